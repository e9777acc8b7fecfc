// Training with a Gemma 3n vision tower: the counterpart of lib/multimodal/vision.ts's VisionTrainer for a
// gemma3nv mmproj. The MobileNet-V5 encoder runs forward-only inside the step graph (its weights are not
// parameters, so no gradient path crosses its CONV_2D/PAD/GELU nodes); what can train is the projector — a
// LoRA on mm.input_projection through the linear hook, and/or the projector's own tensors (mm.input_projection,
// mm.soft_emb_norm) in full. Encoder targets and full fine-tuning of the encoder are refused with the reason.
// The result is written back as a gemma3nv mmproj with the LoRA merged.
import { Context } from "../../engine/context.js";
import type { Ops } from "../../engine/ops.js";
import type { Tensor } from "../../engine/tensor.js";
import { SeededRandom } from "../../data/random.js";
import { GgmlType } from "../../gguf/ggml-types.js";
import { dequantize } from "../../engine/quant.js";
import { InputError } from "../../util/errors.js";
import type { DropoutInput } from "../../lora/adapter.js";
import type { LinearFn } from "../decoder.js";
import { GEMMA3N_PROJECTOR_LINEAR, buildGemma3nProjector } from "./gemma3n-projector.js";
import { MNV5 } from "./mobilenetv5-config.js";
import { buildMobileNetV5, type VisionTensors } from "./mobilenetv5.js";
import { MobileNetV5Model, saveMobileNetV5Mmproj, visionNodesEstimate } from "./mobilenetv5-model.js";
import { checkGemma3nVisionTargets } from "./mobilenetv5-encoder.js";
import type { VisionTensorBytes } from "./mobilenetv5-random.js";

/** Options of {@link Gemma3nVisionTrainer} (the same fields as lib/multimodal's VisionTrainOptions). */
export interface Gemma3nVisionTrainOptions {
  /** Vision LoRA targets; only "mm.input_projection" is possible (checkGemma3nVisionTargets). */
  loraLayers: string[];
  /** LoRA rank, α, dropout, rsLoRA (the language model's settings). */
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  /** Full fine-tuning of the vision tower: refused for MobileNet-V5 (set projector instead). */
  full: boolean;
  /** Train the projector's own tensors (mm.input_projection, mm.soft_emb_norm) in full. */
  projector: boolean;
  seed: number;
}

/** What the trainer's step graph needs to run the encoder (lib/train/step-graph.ts StepVision). */
export interface Gemma3nStepVision {
  maxImages: number;
  pixelsPerImage: number;
  pixelShape: number[];
  bidirectional: boolean;
  nodes: number;
  build(ops: Ops, pixels: Tensor, dropout?: DropoutInput[]): Tensor;
}

const PROJECTOR_TENSORS = [MNV5.inputProjection, MNV5.softEmbNorm] as const;

export class Gemma3nVisionTrainer {
  private readonly ctx?: Context;
  private lora?: { a: Tensor; b: Tensor; inDim: number; outDim: number };
  /** f32 trainable copies of the projector tensors (projector: true). */
  private readonly projector = new Map<string, Tensor>();
  private readonly scale: number;
  /** The weights the graphs read: the model's, with trained projector copies swapped in. */
  readonly tensors: VisionTensors;

  constructor(
    readonly model: MobileNetV5Model,
    readonly o: Gemma3nVisionTrainOptions,
  ) {
    if (o.full)
      throw new InputError(
        "full fine-tuning of Gemma 3n's MobileNet-V5 vision encoder is not possible on ggml (no backward for " +
          "CONV_2D, PAD, UPSCALE, CONCAT or GELU); train the projector (--train-projector) or a LoRA on " +
          `"${GEMMA3N_PROJECTOR_LINEAR}" with the language model instead`,
        { field: "method" },
      );
    const targets = checkGemma3nVisionTargets(o.loraLayers);
    this.scale = o.rslora ? o.alpha / Math.sqrt(o.r) : o.alpha / o.r;
    const w = model.weights;
    const nTensors = (targets.length ? 2 : 0) + (o.projector ? PROJECTOR_TENSORS.length : 0);
    if (nTensors) {
      this.ctx = new Context({ maxTensors: nTensors + 1 });
      if (targets.length) {
        const [inDim, outDim] = w.get(MNV5.inputProjection).ne;
        this.lora = {
          inDim,
          outDim,
          a: this.ctx.f32([inDim, o.r], `${MNV5.inputProjection}.lora_a`),
          b: this.ctx.f32([o.r, outDim], `${MNV5.inputProjection}.lora_b`),
        };
      }
      if (o.projector)
        for (const name of PROJECTOR_TENSORS)
          if (w.has(name)) this.projector.set(name, this.ctx.f32(w.get(name).ne, `${name} (trained)`));
      this.ctx.allocate();
      for (const [name, t] of this.projector) {
        const src = w.get(name);
        t.set(dequantize(src.type, src.bytes(), src.nelements));
      }
      if (this.lora) {
        // A uniform in ±1/√in, B zero: the LoRA starts as a no-op (as the language model's)
        const rng = new SeededRandom(o.seed ^ 0x3e5);
        const bound = 1 / Math.sqrt(this.lora.inDim);
        this.lora.a.set(
          Float32Array.from({ length: this.lora.a.nelements }, () => (rng.next() * 2 - 1) * bound),
        );
        this.lora.b.fillBytes(0);
      }
    }
    this.tensors = {
      get: (n) => this.projector.get(n) ?? w.get(n),
      has: (n) => this.projector.has(n) || w.has(n),
    };
  }

  /** Whether anything in the vision tower is trained. */
  get trains(): boolean {
    return this.lora !== undefined || this.projector.size > 0;
  }
  params(): Tensor[] {
    return [...this.projector.values(), ...(this.lora ? [this.lora.a, this.lora.b] : [])];
  }
  get parameterCount(): number {
    return this.params().reduce((s, t) => s + t.nelements, 0);
  }

  /** The projector's linear hook: W·x, plus s·B·A·x with the LoRA (dropout masks are graph inputs). */
  linear(dropoutInputs?: DropoutInput[]): LinearFn {
    const l = this.lora;
    const p = this.o.dropout;
    return (ops, name, w, x) => {
      const base = ops.mulMat(w, x);
      if (!l || name !== GEMMA3N_PROJECTOR_LINEAR) return base;
      let xin = x;
      if (dropoutInputs && p > 0) {
        const mask = ops.ctx.input(GgmlType.F32, x.ne, "dropout mm.input_projection");
        dropoutInputs.push({ tensor: mask, p });
        xin = ops.mul(x, mask);
      }
      return ops.add(base, ops.scale(ops.mulMat(l.b, ops.mulMat(l.a, xin)), this.scale));
    };
  }

  /** The encoder (forward only) + projector inside a training/eval step graph for `maxImages` images. */
  stepVision(maxImages: number): Gemma3nStepVision {
    const c = this.model.config;
    return {
      maxImages,
      pixelsPerImage: 3 * c.imageSize * c.imageSize,
      pixelShape: [c.imageSize, c.imageSize, 3, maxImages],
      // mtmd_decode_use_non_causal is false for gemma3nv: image tokens attend causally
      bidirectional: false,
      nodes: visionNodesEstimate(c),
      build: (ops, pixels, dropout) =>
        buildGemma3nProjector(
          ops,
          c,
          this.tensors,
          buildMobileNetV5(ops, c, this.tensors, { pixels }),
          this.linear(dropout),
        ),
    };
  }

  snapshot(): Float32Array[] {
    return this.params().map((t) => t.f32());
  }
  restore(values: Float32Array[]): void {
    this.params().forEach((t, i) => t.set(values[i]!));
  }

  /** Every tensor of the tower with the trained projector and the LoRA merged in (W + s·B·A, f32). */
  mergedTensors(): Map<string, VisionTensorBytes> {
    const out = this.model.weights.snapshot();
    for (const [name, t] of this.projector)
      out.set(name, { type: GgmlType.F32, shape: out.get(name)!.shape, data: t.bytes() });
    const l = this.lora;
    if (l) {
      const name = MNV5.inputProjection;
      const base = out.get(name)!;
      const w = dequantize(base.type, base.data, l.inDim * l.outDim);
      const a = l.a.f32();
      const b = l.b.f32();
      const R = this.o.r;
      // ggml [in, out]: element (out o, in i) at o·in + i; A is [in, r], B is [r, out]
      for (let oi = 0; oi < l.outDim; oi++)
        for (let ii = 0; ii < l.inDim; ii++) {
          let d = 0;
          for (let r = 0; r < R; r++) d += b[oi * R + r]! * a[r * l.inDim + ii]!;
          w[oi * l.inDim + ii]! += this.scale * d;
        }
      out.set(name, { type: GgmlType.F32, shape: base.shape, data: new Uint8Array(w.buffer) });
    }
    return out;
  }

  /** Writes the trained tower as a gemma3nv mmproj (LoRA merged) that llama.cpp's mtmd loads. */
  async saveMmproj(path: string): Promise<void> {
    await saveMobileNetV5Mmproj(path, this.model.config, this.mergedTensors(), {
      name: "tunekit fine-tuned gemma3n vision",
    });
  }

  free(): void {
    this.ctx?.free();
  }
}
