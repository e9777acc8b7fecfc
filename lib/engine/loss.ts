// Next-token cross-entropy with a loss mask, normalised over the real target tokens of a whole
// accumulated batch (so gradient accumulation of k micro-batches equals one batch k times larger).
import { GgmlType } from "../gguf/ggml-types.js";
import { EngineError } from "../util/errors.js";
import { GgmlOp } from "./op-codes.js";
import { ggml } from "./ffi.js";
import type { Graph } from "./graph.js";
import type { Context } from "./context.js";
import type { Ops } from "./ops.js";
import type { Tensor } from "./tensor.js";

/**
 * Graph pieces of the masked loss. ggml's CROSS_ENTROPY_LOSS backward is softmax − labels, which assumes each
 * label row sums to 1; so masked positions keep a one-hot label but get their logits multiplied by 0: their
 * softmax is uniform, their gradient through the mask is exactly 0, and their loss is the constant log V,
 * which {@link MaskedLoss.nllSum} removes from the reported value.
 */
export interface MaskedLoss {
  /** Scalar loss to differentiate: Σ_target −log p / normaliser (+ a constant). */
  loss: Tensor;
  /** Persistent one-hot labels [V, T]: update with {@link MaskedLossLabels}. */
  labels: Tensor;
  /** Graph input [1, T]: 1 for target positions, 0 elsewhere. */
  mask: Tensor;
  /** Graph input [1]: T / normaliser. */
  scale: Tensor;
  /** ggml's CROSS_ENTROPY_LOSS node. */
  ce: Tensor;
  /** The tensor holding the loss value after a compute: `loss`, or the one {@link vectorizedLossValue} adds. */
  value: Tensor;
  /** Graph input [T] of target ids (label 0 where masked), present once vectorizedLossValue has run. */
  targets?: Tensor;
}

/**
 * Builds the masked loss on logits [V, T]. `state` holds the persistent labels.
 *
 * When the logits are a plain product W·h (a bias-free output layer, the usual LM head), the mask multiplies
 * the hidden states h [D, T] instead: a masked row's logits are then all 0 — the same uniform softmax, constant
 * loss and zero gradient (W·0 = 0, and the mask stops the gradient into h) — for D instead of V numbers per
 * token, in the forward and the backward pass (V = 49152, D = 576: ~85× less work on the largest tensors).
 */
export function maskedCrossEntropy(ops: Ops, state: Context, logits: Tensor): MaskedLoss {
  const [V, T] = logits.ne;
  if (logits.ne[2] !== 1 || logits.ne[3] !== 1)
    throw new EngineError(`logits must be 2-D [vocab, tokens], got ${logits}`);
  const labels = state.f32([V, T], "labels");
  const mask = ops.ctx.input(GgmlType.F32, [1, T], "loss mask");
  const scale = ops.ctx.input(GgmlType.F32, [1], "loss scale");
  const w = logits.op === GgmlOp.MUL_MAT ? logits.src(0) : null;
  const h = logits.op === GgmlOp.MUL_MAT ? logits.src(1) : null;
  const masked =
    w && h && h.type === GgmlType.F32 && h.ne[1] === T && h.ne[2] === 1 && h.ne[3] === 1
      ? ops.mulMat(w, ops.mul(h, mask))
      : ops.mul(logits, mask);
  const ce = ops.crossEntropy(masked, labels);
  const loss = ops.mul(ce, scale);
  return { loss, labels, mask, scale, ce, value: loss };
}

/**
 * ggml's CROSS_ENTROPY_LOSS forward calls expf() one element at a time over the whole [V, T] logits (its
 * backward is vectorised and does not read the forward's result). Call this after the backward pass is built
 * (or on a forward-only graph): the forward node becomes a no-op and the same value is computed from vectorised
 * ops into `loss.value`: −log p_y = z_m − z_y − log p_m with m = argmax z, where p_m ≥ 1/V cannot underflow.
 */
export function vectorizedLossValue(ops: Ops, graph: Graph, loss: MaskedLoss): void {
  const z = loss.ce.src(0)!;
  const [V, T] = z.ne;
  const targets = ops.ctx.input(GgmlType.I32, [T], "loss targets");
  const rowsOf = (a: Tensor) => ops.reshape(a, [1, V, T]);
  const pick = (a: Tensor, ids: Tensor) => ops.getRows(rowsOf(a), ops.reshape(ids, [1, T]));
  const m = ops.argmax(z);
  const nll = ops.sub(ops.sub(pick(z, m), pick(z, targets)), ops.log(pick(ops.softMax(z, null), m)));
  // CROSS_ENTROPY_LOSS is the mean over rows; the loss multiplies it by the scale input
  const value = ops.mul(ops.scale(ops.sum(nll), 1 / T), loss.scale);
  graph.expand(value);
  ggml().ggml_set_output(value.ptr);
  loss.ce.setOp(GgmlOp.NONE);
  loss.targets = targets;
  loss.value = value;
}

/** Keeps a persistent one-hot label tensor in step with the targets, writing only what changed. */
export class MaskedLossLabels {
  private previous: Int32Array;
  constructor(
    private readonly labels: Tensor,
    private readonly vocab: number,
  ) {
    const T = labels.ne[1];
    labels.fillBytes(0);
    this.previous = new Int32Array(T).fill(-1);
  }

  /**
   * Writes targets (−1 or masked → label 0, which the mask neutralises), the mask and the scale for this
   * micro-batch. `normaliser` is the number of target tokens in the whole accumulated batch.
   */
  write(loss: MaskedLoss, targets: Int32Array, lossMask: Uint8Array, normaliser: number): void {
    const T = targets.length;
    if (T !== this.previous.length)
      throw new EngineError(`expected ${this.previous.length} targets, got ${T}`);
    const one = new Float32Array([1]);
    const zero = new Float32Array([0]);
    const mask = new Float32Array(T);
    for (let t = 0; t < T; t++) {
      const on = lossMask[t] === 1 && targets[t] >= 0;
      const y = on ? targets[t] : 0;
      if (y >= this.vocab)
        throw new EngineError(`target token ${y} at position ${t} is outside the vocabulary (${this.vocab})`);
      mask[t] = on ? 1 : 0;
      if (this.previous[t] === y) continue;
      if (this.previous[t] >= 0) this.labels.set(zero, (t * this.vocab + this.previous[t]) * 4);
      this.labels.set(one, (t * this.vocab + y) * 4);
      this.previous[t] = y;
    }
    loss.mask.set(mask);
    if (loss.targets)
      loss.targets.set(Int32Array.from(targets, (y, t) => (lossMask[t] === 1 && y >= 0 ? y : 0)));
    loss.scale.set(new Float32Array([normaliser > 0 ? T / normaliser : 0]));
  }

  /** Σ −log p over target tokens from the computed loss value (removes the masked rows' log V). */
  static nllSum(lossValue: number, T: number, nTargets: number, normaliser: number, vocab: number): number {
    if (normaliser <= 0) return 0;
    const ceMean = (lossValue * normaliser) / T;
    return ceMean * T - (T - nTargets) * Math.log(vocab);
  }
}
