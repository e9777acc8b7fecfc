// The memory layout of the gradients ggml's autograd will build, worked out before ggml_build_backward_expand
// runs: several backward rules pass the incoming gradient on as a view (PERMUTE and TRANSPOSE permute it, ADD
// and DUP hand it on unchanged), and several ops that the rules then build on it need a contiguous tensor —
// GGML_ASSERTs when the graph is built (SCALE: ggml_is_padded_1d, CONT, CPY's reshape) or when it is computed
// (the CPU SCALE, SOFT_MAX_BACK and DIAG_MASK kernels, rows of f32 for the binary ops, ROPE, RMS_NORM_BACK) —
// or read it as if it were (SILU_BACK, IM2COL_BACK). Any of those aborts the process or computes garbage, so
// the graph is refused here with the node named. The rules mirror ggml_compute_backward (ggml.c) and the CPU
// kernels of the pinned ggml release.
import { EngineError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { ggml } from "./ffi.js";
import type { Graph } from "./graph.js";
import { GgmlOp } from "./op-codes.js";
import { MAX_SRC, TensorFlag, type Tensor } from "./tensor.js";

/** Shape and byte strides of a gradient tensor (always f32). */
interface Layout {
  ne: number[];
  nb: number[];
}

const F32 = 4;

function packed(ne: readonly number[], elem = F32): Layout {
  const nb = [elem, elem * ne[0], elem * ne[0] * ne[1], elem * ne[0] * ne[1] * ne[2]];
  return { ne: [...ne], nb };
}

/** ggml_is_contiguous_m_n: dimensions above m packed (size-1 dimensions ignored), rows of adjacent elements. */
function contiguousAbove(l: Layout, m: number, elem = F32): boolean {
  if (l.ne[0] !== 1 && l.nb[0] !== elem) return false;
  let next = elem * l.ne[0];
  for (let i = 1; i < 4; i++) {
    if (i > m) {
      if (l.ne[i] !== 1 && l.nb[i] !== next) return false;
      next *= l.ne[i];
    } else next = l.ne[i] * l.nb[i];
  }
  return true;
}
const isContiguous = (l: Layout, elem = F32) => contiguousAbove(l, 0, elem);
const isContiguous1 = (l: Layout) => contiguousAbove(l, 1);
const rowsPacked = (l: Layout) => l.nb[0] === F32;
const sameShape = (a: readonly number[], b: readonly number[]) => a.every((v, i) => v === b[i]);

/** What an op built on the gradient requires of it (the gradient is that op's src0 unless noted). */
type Need = "contiguous" | "contiguous rows 2-3" | "rows";
const NEED_TEXT: Record<Need, string> = {
  contiguous: "a contiguous gradient",
  "contiguous rows 2-3": "a gradient with packed rows and matrices",
  rows: "a gradient whose rows are adjacent f32",
};
function satisfies(l: Layout, need: Need): boolean {
  switch (need) {
    case "contiguous":
      return isContiguous(l);
    case "contiguous rows 2-3":
      return isContiguous1(l);
    case "rows":
      return rowsPacked(l);
  }
}

/**
 * Which nodes ggml will compute a gradient for (grads_needed of ggml_build_backward_expand, with its rules for
 * sources that take no gradient). ggml asserts that a gradient only passes through f32/f16 tensors: such a
 * graph is refused here instead.
 */
export function gradientNodes(graph: Graph): Set<bigint> {
  const needs = new Set<bigint>();
  for (const node of graph.nodes()) {
    if (node.type === GgmlType.I32) continue;
    let need = (node.flags & (TensorFlag.PARAM | TensorFlag.LOSS)) !== 0;
    const op = node.op;
    for (let j = 0; j < MAX_SRC; j++) {
      const src = node.src(j);
      if (!src || !needs.has(src.ptr)) continue;
      const ignored =
        (j === 0 && (op === GgmlOp.IM2COL || op === GgmlOp.IM2COL_BACK)) ||
        (j === 1 &&
          (op === GgmlOp.CPY ||
            op === GgmlOp.GET_ROWS ||
            op === GgmlOp.GET_ROWS_BACK ||
            op === GgmlOp.ROPE)) ||
        (j === 0 && op === GgmlOp.UNARY && [1, 3].includes(node.opParam(0)));
      if (ignored) continue;
      if (src.type !== GgmlType.F32 && src.type !== GgmlType.F16)
        throw new EngineError(`backward: ${node} takes a gradient through ${src} of type ${src.typeName}`);
      need = true;
    }
    if (need) needs.add(node.ptr);
  }
  return needs;
}

/**
 * Refuses (EngineError) a graph whose backward pass would build or compute an op on a gradient laid out in a
 * way that op cannot take. Call after the graph is built with its parameters and loss marked, before
 * ggml_build_backward_expand; `needs` is the graph's {@link gradientNodes}.
 */
export function checkGradientLayouts(graph: Graph, needs: Set<bigint>): void {
  const grads = new Map<bigint, Layout>();
  // parameters and the loss start from their (contiguous) accumulators, added to in place
  const accumulated = new Set<bigint>();
  for (const node of graph.nodes())
    if (needs.has(node.ptr) && (node.flags & (TensorFlag.PARAM | TensorFlag.LOSS)) !== 0) {
      accumulated.add(node.ptr);
      grads.set(node.ptr, packed(node.ne));
    }

  const refuse = (node: Tensor, what: string, need: Need, l: Layout): never => {
    const opName = ggml().ggml_op_name(node.op) ?? String(node.op);
    throw new EngineError(
      `backward: ${node} (${opName}) receives its gradient as a view laid out as ne [${l.ne.join(", ")}] nb [${l.nb.join(", ")}] (passed back through a PERMUTE, TRANSPOSE or VIEW), and ggml's backward of ${opName} builds ${what} on it, which needs ${NEED_TEXT[need]}: ggml would abort (or compute garbage). Compute the ${opName} after the cont that follows the permute/transpose, or pass its result through a reshape (whose backward makes the gradient contiguous)`,
    );
  };
  const require = (node: Tensor, what: string, l: Layout, need: Need) => {
    if (!satisfies(l, need)) refuse(node, what, need, l);
  };

  for (let i = graph.nNodes - 1; i >= 0; i--) {
    const node = graph.node(i);
    const g = grads.get(node.ptr);
    if (!g || !needs.has(node.ptr)) continue;
    const op = node.op;
    const srcs = [node.src(0), node.src(1), node.src(2)];
    const wants = srcs.map((s) => !!s && needs.has(s.ptr));

    /** ggml_add_or_set: the first contribution is kept as it is, a later one is added into a new tensor. */
    const addOrSet = (j: number, l: Layout) => {
      const src = srcs[j]!;
      const prev = grads.get(src.ptr);
      if (prev) {
        // ggml_add(prev, l): prev is the binary op's src0
        if (!accumulated.has(src.ptr)) require(node, `the sum of the gradients of ${src}`, prev, "rows");
        grads.set(src.ptr, packed(src.ne));
      } else grads.set(src.ptr, l);
    };
    /** ggml_sub_or_set: the first contribution is negated (NEG, a unary op), a later one subtracted. */
    const subOrSet = (j: number, l: Layout) => {
      const src = srcs[j]!;
      const prev = grads.get(src.ptr);
      if (prev) {
        if (!accumulated.has(src.ptr))
          require(node, `the difference of the gradients of ${src}`, prev, "rows");
      } else require(node, "NEG", l, "contiguous rows 2-3");
      grads.set(src.ptr, packed(src.ne));
    };
    const fresh = (j: number) => packed(srcs[j]!.ne);

    switch (op) {
      case GgmlOp.DUP:
        if (wants[0]) addOrSet(0, g);
        break;
      case GgmlOp.ADD:
        if (wants[0]) addOrSet(0, g);
        if (wants[1]) {
          const same = sameShape(srcs[0]!.ne, srcs[1]!.ne);
          if (!same) require(node, "REPEAT_BACK", g, "rows");
          addOrSet(1, same ? g : fresh(1));
        }
        break;
      case GgmlOp.ACC:
        if (wants[0]) addOrSet(0, g);
        if (wants[1]) addOrSet(1, fresh(1));
        break;
      case GgmlOp.SUB:
        if (wants[0]) addOrSet(0, g);
        if (wants[1]) subOrSet(1, g);
        break;
      case GgmlOp.MUL:
        if (wants[0]) {
          require(node, "MUL", g, "rows");
          addOrSet(0, fresh(0));
        }
        if (wants[1]) addOrSet(1, fresh(1));
        break;
      case GgmlOp.DIV:
        if (wants[0] || wants[1]) require(node, "DIV/MUL", g, "rows");
        if (wants[0]) addOrSet(0, fresh(0));
        if (wants[1]) subOrSet(1, fresh(1));
        break;
      case GgmlOp.SQR:
        if (wants[0]) addOrSet(0, fresh(0));
        break;
      case GgmlOp.SQRT:
      case GgmlOp.LOG:
      case GgmlOp.SIN:
        if (wants[0]) {
          require(node, "DIV/MUL", g, "rows");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.COS:
        if (wants[0]) {
          require(node, "MUL", g, "rows");
          subOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.SUM:
        if (wants[0]) addOrSet(0, fresh(0));
        break;
      case GgmlOp.SUM_ROWS:
      case GgmlOp.REPEAT:
      case GgmlOp.REPEAT_BACK:
        if (wants[0]) {
          require(node, op === GgmlOp.REPEAT ? "REPEAT_BACK" : "REPEAT", g, "rows");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.MEAN:
      case GgmlOp.SCALE:
        if (wants[0]) {
          // ggml_scale_impl asserts ggml_is_padded_1d, the CPU kernel a contiguous source
          require(node, "SCALE", g, "contiguous");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.RMS_NORM:
        if (wants[0]) {
          require(node, "RMS_NORM_BACK", g, "rows");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.MUL_MAT:
        // OUT_PROD(src1, grad) and OUT_PROD(src0, gradᵀ): ggml_out_prod refuses a transposed first operand
        for (const [j, other] of [
          [0, 1],
          [1, 0],
        ] as const) {
          if (!wants[j]) continue;
          const o = srcs[other]!;
          if (o.nb[0] > o.nb[1])
            throw new EngineError(
              `backward: ${node} (MUL_MAT) reads ${o} transposed; ggml cannot differentiate that (make it contiguous with cont)`,
            );
          addOrSet(j, fresh(j));
        }
        break;
      case GgmlOp.SET:
        if (wants[0] || wants[1]) require(node, "ACC", g, "contiguous");
        if (wants[0]) addOrSet(0, fresh(0));
        if (wants[1]) addOrSet(1, fresh(1));
        break;
      case GgmlOp.CPY:
        if (wants[0]) {
          require(node, "RESHAPE", g, "contiguous");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.CONT:
        if (wants[0]) {
          require(node, "CONT", g, "contiguous");
          const prev = grads.get(srcs[0]!.ptr);
          if (prev) require(node, `the gradient of ${srcs[0]} it is added to`, prev, "contiguous");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.RESHAPE:
        if (wants[0]) addOrSet(0, fresh(0));
        break;
      case GgmlOp.VIEW:
        if (wants[0]) {
          // ggml_acc_or_set: ACC into the source's gradient, or into SCALE(source, 0) the first time
          const src = srcs[0]!;
          require(node, "ACC", g, "rows");
          const prev = grads.get(src.ptr);
          if (prev) require(node, `the gradient of ${src} (ACC)`, prev, "contiguous");
          else {
            const l = { ne: src.ne, nb: src.nb };
            const elem = ggml().ggml_type_size(src.type);
            if (!isContiguous(l, elem))
              throw new EngineError(
                `backward: ${node} (VIEW) is a view of ${src}, which is not contiguous; ggml's backward scales that source and would abort (make it contiguous with cont)`,
              );
          }
          grads.set(src.ptr, packed(src.ne));
        }
        break;
      case GgmlOp.PERMUTE:
        if (wants[0]) {
          // ggml_permute(grad, axb): dimension i of the gradient goes to axis axb[i], with axb the inverse
          const axes = [0, 1, 2, 3].map((k) => node.opParam(k) & 3);
          const axb = [0, 0, 0, 0];
          axes.forEach((a, k) => (axb[a] = k));
          const ne = [0, 0, 0, 0];
          const nb = [0, 0, 0, 0];
          for (let k = 0; k < 4; k++) {
            ne[axb[k]] = g.ne[k];
            nb[axb[k]] = g.nb[k];
          }
          addOrSet(0, { ne, nb });
        }
        break;
      case GgmlOp.TRANSPOSE:
        if (wants[0])
          addOrSet(0, { ne: [g.ne[1], g.ne[0], g.ne[2], g.ne[3]], nb: [g.nb[1], g.nb[0], g.nb[2], g.nb[3]] });
        break;
      case GgmlOp.GET_ROWS:
        if (wants[0]) {
          require(node, "GET_ROWS_BACK", g, "rows");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.DIAG_MASK_INF:
      case GgmlOp.DIAG_MASK_ZERO:
        if (wants[0]) {
          require(node, "DIAG_MASK_ZERO", g, "contiguous");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.SOFT_MAX:
        if (wants[0]) {
          require(node, "SOFT_MAX_BACK", g, "contiguous");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.ROPE:
        if (wants[0]) {
          require(node, "ROPE_BACK", g, "rows");
          addOrSet(0, fresh(0));
        }
        break;
      case GgmlOp.IM2COL:
        if (wants[1]) {
          require(node, "IM2COL_BACK", g, "contiguous");
          addOrSet(1, fresh(1));
        }
        break;
      case GgmlOp.UNARY: {
        if (!wants[0]) break;
        const u = node.opParam(0);
        if (u === 2) {
          subOrSet(0, g); // NEG
          break;
        }
        // ABS, RELU, EXP: MUL(x, grad); EXPM1, SOFTPLUS: MUL(grad, x); SILU: SILU_BACK(grad, x)
        if (u === 14 || u === 15) require(node, "MUL", g, "rows");
        if (u === 10) require(node, "SILU_BACK", g, "contiguous rows 2-3");
        if (u !== 1 && u !== 3) addOrSet(0, fresh(0));
        break;
      }
      case GgmlOp.GLU:
        // SWIGLU: SILU_BACK(MUL(grad, up), gate) and MUL(SILU(gate), grad)
        if (wants[0]) {
          require(node, "MUL", g, "rows");
          addOrSet(0, fresh(0));
        }
        if (wants[1]) addOrSet(1, fresh(1));
        break;
      default:
        // CROSS_ENTROPY_LOSS and the rest: a fresh gradient (unsupported ops are refused by checkBackwardSupported)
        for (let j = 0; j < 3; j++) if (wants[j]) addOrSet(j, fresh(j));
    }
  }
}
