// DoRA (weight-decomposed LoRA, Liu et al. 2024; PEFT's use_dora): W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖, the
// norm taken per output row (over the input dimension, PEFT's torch.linalg.norm(weight, dim=1)), m a trainable
// magnitude per output feature initialised to ‖W‖. As the paper's §4.3 and PEFT do, the norm is a constant for
// the gradient: it is computed here, in a graph of its own, into a plain tensor the training graph only reads,
// so autograd never differentiates through it. It is recomputed whenever A or B change (after every optimizer
// step and whenever weights are set).
//
// The norm comes from the expansion ‖W_o + s·(BA)_o‖² = ‖W_o‖² + 2s·⟨W_o, (BA)_o⟩ + s²·‖(BA)_o‖²: ‖W_o‖² is a
// constant taken once from the dequantized base, ⟨W_o, (BA)_o⟩ = Σ_k B[o,k]·(W·Aᵀ)[o,k] needs only
// MUL_MAT(W, A) — the weight as the first operand of a matmul, the one read a quantized or AMX/REPACK
// (private-layout) base allows — and ‖(BA)_o‖² = B_o·(A·Aᵀ)·B_oᵀ is rank-sized work. Nothing ever reads the
// base's bytes outside a matmul.
import { Context } from "../engine/context.js";
import { Graph } from "../engine/graph.js";
import { Ops } from "../engine/ops.js";
import type { Tensor } from "../engine/tensor.js";
import { dequantize, quantize } from "../engine/quant.js";
import { GgmlType } from "../gguf/ggml-types.js";
import type { Model } from "../models/model.js";
import { InputError } from "../util/errors.js";

/**
 * The base matrix `${layer}.weight` as the loaded model holds it, in f32: the file's values, or — when the
 * model was loaded with the base quantized (QLoRA) — those values after the same quantization (ggml's
 * quantizer is deterministic, so this equals what the matmuls use).
 */
export function storedBaseMatrix(model: Model, layer: string): Float32Array {
  const name = `${layer}.weight`;
  const info = model.file.tensor(name);
  if (!info) throw new InputError(`the model file has no tensor "${name}"`, { file: model.path });
  const [inDim, outDim] = info.shape;
  const n = inDim * outDim;
  const fileValues = dequantize(info.type, model.file.tensorData(name), n);
  const held = model.weights.typeOf(name);
  if (held === info.type || held === GgmlType.F32) return fileValues;
  return dequantize(held, quantize(held, fileValues, inDim), n);
}

/** Σ_i W[o,i]² for every output row o of a row-major (outDim × inDim) matrix, accumulated in f64. */
export function rowSumsOfSquares(w: Float32Array, inDim: number, outDim: number): Float64Array {
  const out = new Float64Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let s = 0;
    const base = o * inDim;
    for (let i = 0; i < inDim; i++) s += w[base + i] * w[base + i];
    out[o] = s;
  }
  return out;
}

/** One DoRA layer's tensors (besides A and B). */
export interface DoraTensors {
  /** Trainable magnitude m, f32 [out] (PEFT's lora_magnitude_vector). */
  m: Tensor;
  /** ‖W + s·B·A‖ per output row, f32 [out]: written by {@link DoraNorms.refresh}, read as a constant. */
  norm: Tensor;
  /** ‖W‖² per output row, f32 [out] (constant). */
  baseNorm2: Tensor;
}

/** What the norm graph needs of a layer. */
export interface DoraNormLayer {
  /** The frozen base weight [in, out] (any type, any buffer: only a matmul reads it). */
  w: Tensor;
  a: Tensor;
  b: Tensor;
  dora: DoraTensors;
}

/** The graph that recomputes every layer's ‖W + s·B·A‖ into its `norm` tensor. */
export class DoraNorms {
  private readonly ctx: Context;
  private readonly graph: Graph;
  /** Threads for the refresh: one when the work is too small to pay for ggml's per-node thread barriers. */
  private readonly threads?: number;

  constructor(layers: DoraNormLayer[], scale: number) {
    const size = 24 * layers.length + 16;
    const flops = layers.reduce((s, l) => s + 2 * l.w.ne[0] * l.w.ne[1] * l.a.ne[1], 0);
    if (flops < 2e8) this.threads = 1;
    this.ctx = new Context({ maxTensors: 2 * size, graphSize: size });
    try {
      const ops = new Ops(this.ctx);
      const outputs: Tensor[] = [];
      for (const { w, a, b, dora } of layers) {
        const out = w.ne[1];
        // ⟨W_o, (BA)_o⟩ = Σ_k B[o,k]·(W·Aᵀ)[o,k]; MUL_MAT(W, A) is [out, r]
        const wa = ops.cont(ops.transpose(ops.mulMat(w, a)));
        const cross = ops.reshape(ops.sumRows(ops.mul(wa, b)), [out]);
        // ‖(BA)_o‖² = B_o·(A·Aᵀ)·B_oᵀ
        const gram = ops.mulMat(a, a);
        const quad = ops.reshape(ops.sumRows(ops.mul(ops.mulMat(gram, b), b)), [out]);
        const n2 = ops.add(
          ops.add(dora.baseNorm2, ops.scale(cross, 2 * scale)),
          ops.scale(quad, scale * scale),
        );
        outputs.push(ops.cpy(ops.sqrt(n2), dora.norm));
      }
      this.graph = Graph.build(this.ctx, outputs, { size });
      this.graph.allocate();
    } catch (e) {
      this.ctx.free();
      throw e;
    }
  }

  /** Recomputes the norms from the current A and B. */
  refresh(): void {
    this.graph.compute(undefined, this.threads);
  }

  free(): void {
    this.graph.free();
    this.ctx.free();
  }
}
