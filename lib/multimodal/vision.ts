// The Gemma 3 vision tower (SigLIP + projector, lib/models/vision) as the multimodal paths use it: an
// ImageEncoder for generation and evaluation, and what training changes in it — LoRA on its linear layers
// (names "v.blk.N.attn_q" … "mm.input_projection"), the projector's own tensors, or every tensor (full
// fine-tuning) — and how the result is written back: a new mmproj GGUF with the LoRA merged into the
// encoder weights, which llama.cpp's clip loader reads like any other.
import { GgmlType } from "../gguf/ggml-types.js";
import { Context } from "../engine/context.js";
import type { Tensor } from "../engine/tensor.js";
import { InputError } from "../util/errors.js";
import { SeededRandom } from "../data/random.js";
import { loraLinear, type DropoutInput } from "../lora/adapter.js";
import { plainLinear, type LinearFn } from "../models/decoder.js";
import {
  VisionModel,
  buildSiglipVision,
  encodeImages,
  nImageTokens,
  preprocessImage,
  saveMmproj,
  visionLinearNames,
  visionNodesEstimate,
  type SiglipVisionConfig,
  type VisionTensorData,
} from "../models/vision/index.js";
import type { StepVision } from "../train/step-graph.js";
import { resolveTargets } from "../lora/targets.js";
import { openGguf } from "../gguf/index.js";
import { openGemma3nImageEncoder } from "../models/vision/mobilenetv5-encoder.js";
import type { ImageEncoder } from "./encoder.js";

/** clip.projector_type of an mmproj ("gemma3", "gemma3nv", …). */
export function projectorType(path: string): string {
  const f = openGguf(path);
  try {
    return f.getString("clip.projector_type", "") || f.getString("clip.vision.projector_type", "");
  } finally {
    f.close();
  }
}

/** The image encoder of an mmproj: Gemma 3 (SigLIP) or Gemma 3n (MobileNet-V5), by its projector type. */
export function openImageEncoder(path: string, o: { threads?: number } = {}): ImageEncoder {
  const type = projectorType(path);
  if (type === "gemma3nv") return openGemma3nImageEncoder(path, o);
  if (type !== "gemma3")
    throw new InputError(`projector type "${type}" is not supported (gemma3, gemma3nv)`, { file: path });
  return siglipEncoder(VisionModel.load(path), o);
}

/** mtmd's image layout for projector "gemma3": <start_of_image>, the soft tokens, <end_of_image>. */
export function gemma3ImageSpec(c: SiglipVisionConfig) {
  return { begin: "<start_of_image>", end: "<end_of_image>", tokensPerImage: nImageTokens(c), slotId: 0 };
}

/** A loaded mmproj as an {@link ImageEncoder} (llama.cpp's preprocessing, inference graph). */
export function siglipEncoder(
  vision: VisionModel,
  o: { threads?: number; linear?: LinearFn } = {},
): ImageEncoder {
  const c = vision.config;
  return {
    image: gemma3ImageSpec(c),
    nEmbd: c.projectionDim,
    pixelsPerImage: 3 * c.imageSize * c.imageSize,
    // llama.cpp decodes Gemma 3 image chunks with causal attention off (mtmd_decode_use_non_causal)
    bidirectional: true,
    pixels: (input) => preprocessImage(input, c),
    encode: (pixels, linear) =>
      encodeImages(c, vision.weights, pixels, { linear: linear ?? o.linear, threads: o.threads }),
    dispose: () => vision.dispose(),
  };
}

/**
 * Splits a `--target` spec into vision LoRA layers and the language-model part. Vision items: "vision"
 * (every vision linear layer and the projection), names starting with "v." or "mm.", and /regex/ items,
 * which are matched against the vision names too (a regex matching only vision layers is not passed on).
 */
export function splitVisionTargets(
  spec: string,
  c: SiglipVisionConfig,
  nLayer: number,
): { vision: string[]; language: string[] } {
  const names = visionLinearNames(c);
  const items = (spec.startsWith("/") ? [spec] : spec.split(",")).map((s) => s.trim()).filter(Boolean);
  const vision = new Set<string>();
  const language: string[] = [];
  for (const item of items) {
    if (item === "vision") names.forEach((n) => vision.add(n));
    else if (item.startsWith("v.") || item.startsWith("mm.")) {
      if (!names.includes(item))
        throw new InputError(
          `unknown vision layer "${item}" (layers look like "v.blk.0.attn_q", "mm.input_projection")`,
          { field: "target" },
        );
      vision.add(item);
    } else if (item.startsWith("/") && item.lastIndexOf("/") > 0) {
      const re = new RegExp(item.slice(1, item.lastIndexOf("/")), item.slice(item.lastIndexOf("/") + 1));
      const hits = names.filter((n) => re.test(n));
      hits.forEach((n) => vision.add(n));
      // pass it on unless it matches vision layers only
      let lm = true;
      if (hits.length)
        try {
          resolveTargets(item, nLayer);
        } catch {
          lm = false;
        }
      if (lm) language.push(item);
    } else language.push(item);
  }
  return { vision: names.filter((n) => vision.has(n)), language };
}

/** Options of {@link VisionTrainer}. */
export interface VisionTrainOptions {
  /** Vision layers that get LoRA (from splitVisionTargets). */
  loraLayers: string[];
  /** LoRA rank, α, dropout, rsLoRA (the language model's settings). */
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  /** Train every vision tensor (full fine-tuning). */
  full: boolean;
  /** Train the projector's own tensors (mm.*) in full. */
  projector: boolean;
  seed: number;
}

interface VisionLoraLayer {
  name: string;
  a: Tensor;
  b: Tensor;
  inDim: number;
  outDim: number;
}

/** What training changes in the vision tower, with the graph hook, checkpoint state and the mmproj writer. */
export class VisionTrainer {
  private readonly ctx?: Context;
  private readonly layers = new Map<string, VisionLoraLayer>();
  private readonly full: Tensor[];
  private readonly scale: number;

  constructor(
    readonly vision: VisionModel,
    readonly o: VisionTrainOptions,
  ) {
    const w = vision.weights;
    if (w.params().length !== w.names().length)
      throw new InputError("the vision model must be loaded with trainable: true (f32 weights)");
    this.full = o.full ? w.params() : o.projector ? w.params(/^mm\./) : [];
    this.scale = o.rslora ? o.alpha / Math.sqrt(o.r) : o.alpha / o.r;
    if (o.loraLayers.length) {
      this.ctx = new Context({ maxTensors: 2 * o.loraLayers.length + 1 });
      for (const name of o.loraLayers) {
        const wt = w.get(`${name}.weight`);
        // the graph multiplies by the transposed projection [nEmbd, projectionDim] (see siglip.ts)
        const [inDim, outDim] = name === "mm.input_projection" ? [wt.ne[1], wt.ne[0]] : [wt.ne[0], wt.ne[1]];
        this.layers.set(name, {
          name,
          inDim,
          outDim,
          a: this.ctx.f32([inDim, o.r], `${name}.weight.lora_a`),
          b: this.ctx.f32([o.r, outDim], `${name}.weight.lora_b`),
        });
      }
      this.ctx.allocate();
      const rng = new SeededRandom(o.seed ^ 0x5eed);
      for (const l of this.layers.values()) {
        const bound = 1 / Math.sqrt(l.inDim);
        l.a.set(Float32Array.from({ length: l.inDim * o.r }, () => (rng.next() * 2 - 1) * bound));
        l.b.fillBytes(0);
      }
    }
  }

  /** Whether anything in the vision tower is trained. */
  get trains(): boolean {
    return this.layers.size > 0 || this.full.length > 0;
  }
  params(): Tensor[] {
    return [...this.full, ...[...this.layers.values()].flatMap((l) => [l.a, l.b])];
  }
  get parameterCount(): number {
    return this.params().reduce((s, t) => s + t.nelements, 0);
  }

  /** The vision linear hook (LoRA layers add s·B·A·x; dropout masks are inputs refilled every step). */
  linear(dropoutInputs?: DropoutInput[]): LinearFn {
    if (this.layers.size === 0) return plainLinear;
    return loraLinear(this.layers, this.scale, this.o.dropout, dropoutInputs);
  }

  /** The encoder inside a training/eval step graph for `maxImages` images per micro-batch. */
  stepVision(maxImages: number): StepVision {
    const c = this.vision.config;
    return {
      maxImages,
      pixelsPerImage: 3 * c.imageSize * c.imageSize,
      pixelShape: [c.imageSize, c.imageSize, 3, maxImages],
      bidirectional: true,
      nodes: visionNodesEstimate(c),
      build: (ops, pixels, dropout) =>
        buildSiglipVision(ops, c, this.vision.weights, {
          pixels,
          linear: this.linear(dropout),
          inference: false,
        }),
    };
  }

  snapshot(): Float32Array[] {
    return this.params().map((t) => t.f32());
  }
  restore(values: Float32Array[]): void {
    this.params().forEach((t, i) => t.set(values[i]!));
  }

  /** The vision tensors with every LoRA merged in (W + s·B·A), f32. */
  mergedTensors(): Map<string, VisionTensorData> {
    const out = this.vision.weights.snapshot();
    for (const l of this.layers.values()) {
      const name = `${l.name}.weight`;
      const w = new Float32Array(this.vision.weights.get(name).f32());
      const a = l.a.f32();
      const b = l.b.f32();
      const R = this.o.r;
      const projection = l.name === "mm.input_projection";
      for (let oi = 0; oi < l.outDim; oi++)
        for (let ii = 0; ii < l.inDim; ii++) {
          let d = 0;
          for (let r = 0; r < R; r++) d += b[oi * R + r]! * a[r * l.inDim + ii]!;
          // hook weight [in, out] is row-major out×in; the stored projection is its transpose
          w[projection ? ii * l.outDim + oi : oi * l.inDim + ii]! += this.scale * d;
        }
      out.set(name, { type: GgmlType.F32, data: new Uint8Array(w.buffer) });
    }
    return out;
  }

  /** Writes the trained vision tower as an mmproj GGUF (LoRA merged). */
  async saveMmproj(path: string): Promise<void> {
    await saveMmproj(path, this.vision.config, this.mergedTensors(), { name: "tunekit fine-tuned vision" });
  }

  free(): void {
    this.ctx?.free();
  }
}
