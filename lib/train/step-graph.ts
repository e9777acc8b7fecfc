// The fixed-shape graph of one micro-batch (B rows × T tokens), built once and computed every step:
// forward through the model with the adapter's linear hook, masked next-token loss, and — for training —
// the backward pass into persistent gradient accumulators.
import { Context } from "../engine/context.js";
import { Graph } from "../engine/graph.js";
import { Ops } from "../engine/ops.js";
import { GradientState, buildBackward, markTrainable } from "../engine/autograd.js";
import {
  maskedCrossEntropy,
  MaskedLossLabels,
  vectorizedLossValue,
  type MaskedLoss,
} from "../engine/loss.js";
import type { Tensor } from "../engine/tensor.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { SeededRandom } from "../data/random.js";
import type { PackedRow } from "../data/tokenize.js";
import { attentionMask, buildDecoder, type LinearFn } from "../models/decoder.js";
import type { Model } from "../models/model.js";
import { fillDropout, type DropoutInput } from "../lora/adapter.js";
import { softTokenLayout, type SoftTokenInputs, type SoftTokenSpan } from "../models/soft-tokens.js";

/** An image of a training row: its soft-token columns and its preprocessed pixels. */
export interface RowImage {
  /** First column of its soft tokens within the row. */
  column: number;
  /** Soft tokens (columns). */
  count: number;
  /** Preprocessed pixels (the encoder's input for one image). */
  pixels: Float32Array;
}

/** A training row that may hold images. */
export type StepRow = PackedRow & { images?: RowImage[] };

/** A vision encoder built into the step graph, so its soft tokens (and gradients) flow with the text. */
export interface StepVision {
  /** Image slots per micro-batch (unused slots get zero pixels and are never referenced). */
  maxImages: number;
  /** Floats of one image's pixels. */
  pixelsPerImage: number;
  /** Shape of the pixels input for maxImages images (e.g. [S, S, 3, maxImages]). */
  pixelShape: number[];
  /** The soft tokens of one image attend to each other both ways (Gemma 3). */
  bidirectional: boolean;
  /** Forward graph nodes of the encoder (to size the step graph). */
  nodes: number;
  /**
   * Builds the soft tokens [nEmbd, tokensPerImage·maxImages] from the pixels input; `dropout` (training)
   * collects the dropout masks of vision LoRA layers.
   */
  build(ops: Ops, pixels: Tensor, dropout?: DropoutInput[]): Tensor;
}

export interface StepGraphOptions {
  batch: number;
  seqLen: number;
  /** Build the backward pass into `grads` (training); otherwise forward only (evaluation). */
  grads?: GradientState;
  /** Trainable tensors (marked before the graph is built). */
  params?: Tensor[];
  linear: (dropout?: DropoutInput[]) => LinearFn;
  /** NEFTune α (training only; 0 = off). */
  neftuneAlpha?: number;
  /** Image rows: the vision encoder in the graph (see lib/multimodal). */
  vision?: StepVision;
}

export class StepGraph {
  private readonly ctx: Context;
  private readonly state: Context;
  private readonly graph: Graph;
  private readonly loss: MaskedLoss;
  private readonly labels: MaskedLossLabels;
  private readonly tokens: Tensor;
  private readonly positions: Tensor;
  private readonly mask: Tensor;
  private readonly maskSwa?: Tensor;
  private readonly noise?: Tensor;
  private readonly pixels?: Tensor;
  private readonly soft?: SoftTokenInputs;
  private readonly dropout: DropoutInput[] = [];
  readonly rewrittenBackwardNodes: number = 0;

  constructor(
    readonly model: Model,
    readonly o: StepGraphOptions,
  ) {
    const c = model.config;
    const { batch: B, seqLen: T } = o;
    const n = B * T;
    const size = (1024 + c.nLayer * 400 + (o.vision?.nodes ?? 0)) * (o.grads ? 5 : 1);
    this.ctx = new Context({ maxTensors: size * 2, graphSize: size, grads: !!o.grads });
    this.state = new Context({ maxTensors: 2 });
    try {
      const ops = new Ops(this.ctx);
      this.tokens = this.ctx.input(GgmlType.I32, [n], "tokens");
      this.positions = this.ctx.input(GgmlType.I32, [n], "positions");
      this.mask = this.ctx.input(GgmlType.F32, [T, T, 1, B], "mask");
      if (c.slidingWindow) this.maskSwa = this.ctx.input(GgmlType.F32, [T, T, 1, B], "mask swa");
      if (o.grads && o.neftuneAlpha) this.noise = this.ctx.input(GgmlType.F32, [c.nEmbd, n], "neftune noise");
      const linear = o.linear(o.grads ? this.dropout : undefined);
      if (o.vision) {
        this.pixels = this.ctx.input(GgmlType.F32, o.vision.pixelShape, "pixels");
        this.soft = {
          embeddings: o.vision.build(ops, this.pixels, o.grads ? this.dropout : undefined),
          rows: this.ctx.input(GgmlType.I32, [n], "soft token rows"),
          isSoft: this.ctx.input(GgmlType.F32, [1, n], "soft token columns"),
          isText: this.ctx.input(GgmlType.F32, [1, n], "text columns"),
        };
      }
      const { logits } = buildDecoder(
        ops,
        c,
        model.weights,
        {
          tokens: this.tokens,
          positions: this.positions,
          mask: this.mask,
          maskSwa: this.maskSwa,
          seqLen: T,
          batch: B,
          embeddingNoise: this.noise,
          softTokens: this.soft,
        },
        linear,
      );
      this.loss = maskedCrossEntropy(ops, this.state, logits);
      this.state.allocate();
      this.labels = new MaskedLossLabels(this.loss.labels, c.nVocab);
      if (o.grads) markTrainable(o.params ?? o.grads.params, this.loss.loss);
      this.graph = Graph.build(this.ctx, [this.loss.loss], { size, grads: !!o.grads });
      if (o.grads)
        this.rewrittenBackwardNodes = buildBackward(
          this.graph,
          this.loss.loss,
          o.grads,
          model.weights.transposedMap,
        ).rewritten;
      vectorizedLossValue(ops, this.graph, this.loss);
      this.graph.allocate();
    } catch (e) {
      this.ctx.free();
      this.state.free();
      throw e;
    }
  }

  /** Bytes of activation memory. */
  get activationBytes(): number {
    return this.graph.activationBytes;
  }

  /**
   * Runs one micro-batch (≤ B rows; missing rows are padding) and returns Σ −log p over its targets.
   * `normaliser` is the number of targets in the whole accumulated batch; `stepSeed` seeds dropout and noise.
   */
  run(
    rows: StepRow[],
    normaliser: number,
    stepSeed: number,
    /** Computes the graph instead of `graph.compute()` (profiling). */
    compute?: (graph: Graph) => void,
  ): { nllSum: number; targets: number } {
    const { batch: B, seqLen: T } = this.o;
    const c = this.model.config;
    const n = B * T;
    const ids = new Int32Array(n);
    const pos = new Int32Array(n);
    const seg = new Int32Array(n);
    const targets = new Int32Array(n).fill(-1);
    const lossMask = new Uint8Array(n);
    let count = 0;
    for (let b = 0; b < B; b++) {
      const r = rows[b];
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        if (!r) {
          seg[i] = -1 - t; // padding rows: each token its own segment, attends only to itself
          continue;
        }
        ids[i] = r.ids[t];
        pos[i] = r.positions[t];
        seg[i] = r.segments[t] === 0 ? -1 - t : r.segments[t];
        if (t + 1 < T && r.mask[t + 1] === 1 && r.segments[t + 1] === r.segments[t] && r.segments[t] !== 0) {
          targets[i] = r.ids[t + 1];
          lossMask[i] = 1;
          count++;
        }
      }
    }
    this.model.checkTokens(ids);
    this.tokens.set(ids);
    this.positions.set(pos);
    const groups = this.fillImages(rows);
    const m = {
      queryPos: pos,
      keyPos: pos,
      seqLen: T,
      batch: B,
      nKv: T,
      querySegments: seg,
      keySegments: seg,
      queryGroups: groups,
      keyGroups: groups,
    };
    this.mask.set(attentionMask(m));
    this.maskSwa?.set(attentionMask({ ...m, window: c.slidingWindow }));
    this.labels.write(this.loss, targets, lossMask, normaliser);
    const rng = new SeededRandom(stepSeed);
    fillDropout(this.dropout, () => rng.next());
    if (this.noise) {
      // NEFTune: uniform noise scaled by α/√(L·d), L the sequence length (Jain et al. 2023)
      const mag = this.o.neftuneAlpha! / Math.sqrt(T * c.nEmbd);
      this.noise.set(Float32Array.from({ length: this.noise.nelements }, () => rng.uniform(-mag, mag)));
    }
    if (compute) compute(this.graph);
    else this.graph.compute();
    const nllSum = MaskedLossLabels.nllSum(this.loss.value.scalar(), n, count, normaliser, c.nVocab);
    return { nllSum, targets: count };
  }

  /** Writes the pixels and soft-token columns of the rows' images; returns the attention groups (bidirectional). */
  private fillImages(rows: StepRow[]): Int32Array | undefined {
    const v = this.o.vision;
    if (!v || !this.pixels || !this.soft) {
      if (rows.some((r) => r.images?.length)) throw new Error("image rows need a step graph built with `vision`");
      return undefined;
    }
    const T = this.o.seqLen;
    const n = this.o.batch * T;
    const pixels = new Float32Array(v.pixelsPerImage * v.maxImages);
    const spans: SoftTokenSpan[] = [];
    let k = 0;
    let perImage = 0;
    rows.forEach((r, b) => {
      for (const im of r.images ?? []) {
        if (k >= v.maxImages) throw new Error(`more than ${v.maxImages} images in one micro-batch`);
        if (im.pixels.length !== v.pixelsPerImage)
          throw new Error(`an image has ${im.pixels.length} pixel values, expected ${v.pixelsPerImage}`);
        perImage = im.count;
        pixels.set(im.pixels, k * v.pixelsPerImage);
        spans.push({ column: b * T + im.column, count: im.count, firstRow: k * im.count });
        k++;
      }
    });
    const nSlots = this.soft.embeddings.ne[1];
    if (perImage && perImage * v.maxImages !== nSlots)
      throw new Error(`images have ${perImage} soft tokens, the encoder makes ${nSlots / v.maxImages}`);
    const layout = softTokenLayout(n, spans, nSlots);
    this.pixels.set(pixels);
    this.soft.rows.set(layout.rows);
    this.soft.isSoft.set(layout.isSoft);
    this.soft.isText.set(layout.isText);
    return v.bidirectional ? layout.groups : undefined;
  }

  free(): void {
    this.graph.free();
    this.ctx.free();
    this.state.free();
  }
}
