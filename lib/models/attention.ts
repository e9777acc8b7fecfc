// Scaled-dot-product attention over heads, shared by the decoder graphs (decoder.ts, arch/gemma3n.ts).
import type { Ops } from "../engine/ops.js";
import type { Tensor } from "../engine/tensor.js";

/**
 * softmax(K·Q + mask)·V per head and sequence: q [hd, nHead, T·B] (already scaled), k and v [hd, nHeadKv, nKv, B]
 * (possibly views of a KV cache). Returns the heads merged back to [hd·nHead, T·B].
 */
export function attendHeads(
  ops: Ops,
  o: {
    q: Tensor;
    k: Tensor;
    v: Tensor;
    nHead: number;
    nHeadKv: number;
    seqLen: number;
    batch: number;
    nKv: number;
    /** F32 [nKv, T, 1, B] additive mask. */
    mask: Tensor;
    /** tanh soft-capping of the scores (0: off). */
    softcap: number;
  },
): Tensor {
  const { nHead, nHeadKv, seqLen: T, batch: B, nKv } = o;
  const hd = o.q.ne[0];
  const n = T * B;
  const q4 = ops.permute(ops.reshape(o.q, [hd, nHead, T, B]), [0, 2, 1, 3]); // [hd, T, nHead, B]
  let k4 = ops.permute(o.k, [0, 2, 1, 3]); // [hd, nKv, nHeadKv, B]
  let vT = ops.cont(ops.permute(o.v, [1, 2, 0, 3])); // [nKv, hd, nHeadKv, B]
  if (nHead !== nHeadKv && B > 1) {
    // GQA over a batch: ggml cannot differentiate a 4-D broadcast in mul_mat, so the KV heads are repeated
    // explicitly, each group of nHead/nHeadKv query heads sharing one KV head (as the broadcast does).
    const r = nHead / nHeadKv;
    k4 = ops.reshape(
      ops.repeatTo(ops.reshape(ops.cont(k4), [hd * nKv, 1, nHeadKv, B]), [hd * nKv, r, nHeadKv, B]),
      [hd, nKv, nHead, B],
    );
    vT = ops.reshape(ops.repeatTo(ops.reshape(vT, [nKv * hd, 1, nHeadKv, B]), [nKv * hd, r, nHeadKv, B]), [
      nKv,
      hd,
      nHead,
      B,
    ]);
  }
  let kq = ops.mulMat(k4, q4); // [nKv, T, nHead, B]
  if (o.softcap > 0) kq = ops.scale(ops.tanh(ops.scale(kq, 1 / o.softcap)), o.softcap);
  const p = ops.softMax(kq, o.mask, 1);
  const out = ops.mulMat(vT, p); // [hd, T, nHead, B]
  return ops.reshape(ops.cont(ops.permute(out, [0, 2, 1, 3])), [hd * nHead, n]);
}
