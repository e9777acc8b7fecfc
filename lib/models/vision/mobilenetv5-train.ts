// Training with a Gemma 3n vision tower: the counterpart of lib/multimodal/vision.ts's VisionTrainer for a
// gemma3nv mmproj. What trains: LoRA on any linear layer of the tower (the encoder's 1×1 convs, the projector),
// the projector's own tensors, or every tensor (full fine-tuning). When anything in the encoder trains, the
// step graph uses the differentiable form of MobileNet-V5 (mobilenetv5-trainable.ts, f32 throughout);
// otherwise llama.cpp's own graph (forward only, no gradient path through it) feeds the projector.
// The result is written back as a gemma3nv mmproj with the LoRA merged, in types llama.cpp's clip runs.
import { Context } from "../../engine/context.js";
import type { Ops } from "../../engine/ops.js";
import type { Tensor } from "../../engine/tensor.js";
import { SeededRandom } from "../../data/random.js";
import { GgmlType } from "../../gguf/ggml-types.js";
import { dequantize } from "../../engine/quant.js";
import { loraLinear, type DropoutInput } from "../../lora/adapter.js";
import { castF32 } from "../cast.js";
import type { LinearFn } from "../decoder.js";
import { GEMMA3N_PROJECTOR_LINEAR, buildGemma3nProjector } from "./gemma3n-projector.js";
import { MNV5 } from "./mobilenetv5-config.js";
import { buildMobileNetV5, type VisionTensors } from "./mobilenetv5.js";
import { MobileNetV5Model, saveMobileNetV5Mmproj, visionNodesEstimate } from "./mobilenetv5-model.js";
import { checkGemma3nVisionTargets } from "./mobilenetv5-encoder.js";
import { buildMobileNetV5Trainable } from "./mobilenetv5-trainable.js";
import type { VisionTensorBytes } from "./mobilenetv5-random.js";

/** Options of {@link Gemma3nVisionTrainer} (the same fields as lib/multimodal's VisionTrainOptions). */
export interface Gemma3nVisionTrainOptions {
  /** Vision LoRA targets (checkGemma3nVisionTargets: "vision", layer names, "mm.input_projection"). */
  loraLayers: string[];
  /** LoRA rank, α, dropout, rsLoRA (the language model's settings). */
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  /** Train every tensor of the tower (f32 copies). */
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

interface LoraPair {
  a: Tensor;
  b: Tensor;
  inDim: number;
  outDim: number;
}

const PROJECTOR_TENSORS: readonly string[] = [MNV5.inputProjection, MNV5.softEmbNorm];
/** Depthwise kernels [K, K, 1, C] (stored f16 for llama.cpp's conv_2d_dw). */
const isDepthwise = (shape: number[]) => shape.length === 4 && shape[2] === 1 && shape[0] > 1;

export class Gemma3nVisionTrainer {
  private readonly ctx?: Context;
  private readonly lora = new Map<string, LoraPair>();
  /** f32 trainable copies (full fine-tuning: every tensor; projector: the projector's). */
  private readonly trained = new Map<string, Tensor>();
  private readonly scale: number;
  /** The weights the graphs read: the model's, with the trained copies swapped in. */
  readonly tensors: VisionTensors;
  /** Whether the encoder itself trains (then the step graph is the differentiable form). */
  readonly encoderTrains: boolean;

  constructor(
    readonly model: MobileNetV5Model,
    readonly o: Gemma3nVisionTrainOptions,
  ) {
    const c = model.config;
    const targets = checkGemma3nVisionTargets(o.loraLayers, c);
    this.scale = o.rslora ? o.alpha / Math.sqrt(o.r) : o.alpha / o.r;
    const w = model.weights;
    const fullNames = o.full ? w.names() : o.projector ? PROJECTOR_TENSORS.filter((n) => w.has(n)) : [];
    this.encoderTrains = o.full || targets.some((t) => t !== GEMMA3N_PROJECTOR_LINEAR);
    const nTensors = 2 * targets.length + fullNames.length;
    if (nTensors) {
      this.ctx = new Context({ maxTensors: nTensors + 1 });
      for (const name of targets) {
        const k = w.get(`${name}.weight`);
        // the hook sees 1×1 kernels [1, 1, in, out] as [in, out] matrices, the projection as stored
        const [inDim, outDim] = name === GEMMA3N_PROJECTOR_LINEAR ? [k.ne[0], k.ne[1]] : [k.ne[2], k.ne[3]];
        this.lora.set(name, {
          inDim,
          outDim,
          a: this.ctx.f32([inDim, o.r], `${name}.weight.lora_a`),
          b: this.ctx.f32([o.r, outDim], `${name}.weight.lora_b`),
        });
      }
      for (const name of fullNames) this.trained.set(name, this.ctx.f32(w.get(name).ne, `${name} (trained)`));
      this.ctx.allocate();
      for (const [name, t] of this.trained) {
        const src = w.get(name);
        t.set(dequantize(src.type, src.bytes(), src.nelements));
      }
      // A uniform in ±1/√in, B zero: every LoRA starts as a no-op (as the language model's)
      const rng = new SeededRandom(o.seed ^ 0x3e5);
      for (const l of this.lora.values()) {
        const bound = 1 / Math.sqrt(l.inDim);
        l.a.set(Float32Array.from({ length: l.a.nelements }, () => (rng.next() * 2 - 1) * bound));
        l.b.fillBytes(0);
      }
    }
    this.tensors = {
      get: (n) => this.trained.get(n) ?? w.get(n),
      has: (n) => this.trained.has(n) || w.has(n),
    };
  }

  /** Whether anything in the vision tower is trained. */
  get trains(): boolean {
    return this.lora.size > 0 || this.trained.size > 0;
  }
  params(): Tensor[] {
    return [...this.trained.values(), ...[...this.lora.values()].flatMap((l) => [l.a, l.b])];
  }
  get parameterCount(): number {
    return this.params().reduce((s, t) => s + t.nelements, 0);
  }

  /** The tower's linear hook: W·x, plus s·B·A·x on LoRA layers (dropout masks are graph inputs). */
  linear(dropoutInputs?: DropoutInput[]): LinearFn {
    return loraLinear(this.lora, this.scale, this.o.dropout, dropoutInputs);
  }

  /** Encoder + projector inside a training/eval step graph for `maxImages` images. */
  stepVision(maxImages: number): Gemma3nStepVision {
    const c = this.model.config;
    return {
      maxImages,
      pixelsPerImage: 3 * c.imageSize * c.imageSize,
      pixelShape: [c.imageSize, c.imageSize, 3, maxImages],
      // mtmd_decode_use_non_causal is false for gemma3nv: image tokens attend causally
      bidirectional: false,
      // the differentiable form has about twice the nodes of llama.cpp's graph
      nodes: 2 * visionNodesEstimate(c),
      build: (ops, pixels, dropout) => {
        const linear = this.linear(dropout);
        const features = this.encoderTrains
          ? buildMobileNetV5Trainable(ops, c, this.tensors, { pixels, linear })
          : buildMobileNetV5(ops, c, this.tensors, { pixels });
        return buildGemma3nProjector(ops, c, this.tensors, features, linear);
      },
    };
  }

  snapshot(): Float32Array[] {
    return this.params().map((t) => t.f32());
  }
  restore(values: Float32Array[]): void {
    this.params().forEach((t, i) => t.set(values[i]!));
  }

  /**
   * Every tensor of the tower with the trained values and the LoRA merged in (W + s·B·A): f32, except
   * depthwise kernels, which go back to f16 (llama.cpp's conv_2d_dw takes no f32 kernel on the CPU).
   */
  mergedTensors(): Map<string, VisionTensorBytes> {
    const out = this.model.weights.snapshot();
    const put = (name: string, values: Float32Array) => {
      const shape = out.get(name)!.shape;
      const type = isDepthwise(shape) ? GgmlType.F16 : GgmlType.F32;
      out.set(name, { type, shape, data: castF32(values, type) });
    };
    for (const [name, t] of this.trained) put(name, t.f32());
    const R = this.o.r;
    for (const [layer, l] of this.lora) {
      const name = `${layer}.weight`;
      const trained = this.trained.get(name);
      const base = out.get(name)!;
      const w = trained ? trained.f32() : dequantize(base.type, base.data, l.inDim * l.outDim);
      const a = l.a.f32();
      const b = l.b.f32();
      // both layouts are [in, out] matrices in ggml order: element (out o, in i) at o·in + i
      for (let oi = 0; oi < l.outDim; oi++)
        for (let ii = 0; ii < l.inDim; ii++) {
          let d = 0;
          for (let r = 0; r < R; r++) d += b[oi * R + r]! * a[r * l.inDim + ii]!;
          w[oi * l.inDim + ii]! += this.scale * d;
        }
      put(name, w);
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
