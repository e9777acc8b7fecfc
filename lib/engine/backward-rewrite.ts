// Rewrites of the backward graph ggml's autograd builds. ggml differentiates MUL_MAT into OUT_PROD nodes,
// and the CPU OUT_PROD is a plain loop of row updates (no blocking, no GEMM kernel): in a LoRA step of the
// SmolLM2-135M shape its ~960 nodes took 27 % of the step, mostly in the LoRA products with rank-long rows.
// Both rewrites change nodes in place after ggml_build_backward_expand (DESIGN §1/§8), so the gradients keep
// their tensors and accumulators.
import { EngineError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { getBackend } from "./backend.js";
import { ggml, type Ptr } from "./ffi.js";
import { Graph } from "./graph.js";
import { GgmlOp } from "./op-codes.js";
import { Tensor, TensorFlag } from "./tensor.js";

/**
 * OUT_PROD(W, transpose(grad)) → MUL_MAT(Wᵀ, grad) for frozen weights that have a transposed copy
 * (f32/f16/bf16/quantized, weights.ts): the backward through a frozen weight without dequantizing it per token.
 */
export function rewriteQuantizedBackward(graph: Graph, transposed: Map<bigint, Tensor>): number {
  if (transposed.size === 0) return 0;
  let count = 0;
  for (const node of graph.nodes()) {
    if (node.op !== GgmlOp.OUT_PROD) continue;
    const w = node.src(0);
    const gt = node.src(1);
    const wt = w && transposed.get(w.ptr);
    if (!w || !gt || !wt || gt.op !== GgmlOp.TRANSPOSE) continue;
    const grad = gt.src(0)!;
    // W [K, N], grad [N, T] → dX [K, T] = Wᵀ[N, K] · grad
    const [k, nOut] = w.ne;
    const ok =
      wt.ne[0] === nOut &&
      wt.ne[1] === k &&
      grad.ne[0] === nOut &&
      node.ne[0] === k &&
      node.ne[1] === grad.ne[1];
    if (!ok) throw new EngineError(`transposed copy ${wt} does not match ${w} for ${node}`);
    if (grad.type !== GgmlType.F32) continue;
    node.setOp(GgmlOp.MUL_MAT);
    node.setSrc(0, wt);
    node.setSrc(1, grad);
    count++;
  }
  return count;
}

// Below this row length ggml's OUT_PROD (one axpy of ne[0] floats per dst row and reduced index) is
// dominated by call overhead: a LoRA B gradient [16 × 576] over 1024 tokens took ~6 ms against ~0.5 ms for
// the same products with 576-float rows.
const SHORT_ROW = 64;
// An operand this small is cheap to copy transposed every step (a LoRA A or B); a frozen weight above it is not.
// With tunekit's packed f32 GEMM (source build, AVX-512: kernels/tk-sgemm.c) a MUL_MAT also beats OUT_PROD on
// the long-row product a·bᵀ when a is this small (a LoRA A: dX through [576 × 16] took 0.16 ms instead of
// 0.31 ms); ggml's prebuilt tinyBLAS was 2.4× slower than OUT_PROD there, so the prebuilt keeps OUT_PROD.
const SMALL_OPERAND = 1 << 16;

/** Whether the loaded ggml multiplies f32 with tunekit's packed GEMM (a source build on an AVX-512 CPU). */
export function hasPackedF32Gemm(): boolean {
  return ggml().folder.source && !!getBackend().cpuFeatures.AVX512;
}

/**
 * Rewrites the f32 OUT_PRODs with short rows (out[i, j] = Σ_t a[i, t]·b[j, t] with few i — LoRA's rank side)
 * into forms with long rows:
 * - a·bᵀ where b = transpose(g) of a contiguous g: MUL_MAT(cont(aᵀ), g) — the copy is of a, which is small;
 * - otherwise, when b has long rows and the same batch dims: CONT(transpose(OUT_PROD(b, a))) — the same
 *   products with b's long rows, then a small transposed copy of the [j, i] result.
 * Products with long rows are left to OUT_PROD (transposing their activations costs more than it saves) except
 * the first form with a small a under the packed GEMM (SMALL_OPERAND), as are products whose copy would be of a
 * frozen weight. Returns the number of nodes rewritten; stops early, never aborting, when the graph or its
 * context has no room for the new nodes.
 */
export function rewriteOutProducts(graph: Graph): number {
  const ctx = graph.ctx;
  const g = ggml();
  const nodes = graph.nodes();
  const order: Tensor[] = [];
  let room = Math.min(graph.size - nodes.length, ctx.room);
  let count = 0;
  const packedGemm = hasPackedF32Gemm();
  const add = (p: Ptr): Tensor => {
    const t = new Tensor(p);
    // ggml's CPU backend skips nodes without the COMPUTE flag, which only its graph builder sets
    t.addFlags(TensorFlag.COMPUTE);
    order.push(t);
    return t;
  };
  for (const node of nodes) {
    const a = node.op === GgmlOp.OUT_PROD ? node.src(0) : null;
    const b = a ? node.src(1) : null;
    const f32 = a?.type === GgmlType.F32 && b?.type === GgmlType.F32 && node.type === GgmlType.F32;
    const inner = b?.op === GgmlOp.TRANSPOSE ? b.src(0)! : null;
    const smallA = packedGemm && !!a && a.nelements <= SMALL_OPERAND;
    if (!a || !b || !f32 || (node.ne[0] >= SHORT_ROW && !(inner && smallA)) || room < 2) {
      order.push(node);
      continue;
    }
    const frozen = a.op === GgmlOp.NONE && (a.flags & TensorFlag.PARAM) === 0 && a.nelements > SMALL_OPERAND;
    if (inner && inner.isContiguous && !frozen) {
      ctx.reserve(2);
      const at = add(g.ggml_cont(ctx.ptr, add(g.ggml_transpose(ctx.ptr, a.ptr)).ptr));
      node.setOp(GgmlOp.MUL_MAT);
      node.setSrc(0, at);
      node.setSrc(1, inner);
    } else if (b.ne[0] >= SHORT_ROW && b.nb[0] === 4 && a.ne[2] === b.ne[2] && a.ne[3] === b.ne[3]) {
      ctx.reserve(2);
      const swapped = add(g.ggml_out_prod(ctx.ptr, b.ptr, a.ptr));
      node.setOp(GgmlOp.CONT);
      node.setSrc(0, add(g.ggml_transpose(ctx.ptr, swapped.ptr)));
      node.setSrc(1, null);
    } else {
      order.push(node);
      continue;
    }
    room -= 2;
    order.push(node);
    count++;
  }
  if (count) graph.setNodes(order);
  return count;
}
