// Backward pass with ggml's autograd and gradient accumulators that persist across micro-batches; the
// slow OUT_PROD nodes ggml's autograd emits are then rewritten into faster forms (backward-rewrite.ts).
import { EngineError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { Context } from "./context.js";
import { ggml } from "./ffi.js";
import { rewriteOutProducts, rewriteQuantizedBackward } from "./backward-rewrite.js";
import { Graph } from "./graph.js";
import { GgmlOp } from "./op-codes.js";
import { Tensor, TensorFlag } from "./tensor.js";
import { checkGradientLayouts, gradientNodes } from "./backward-layout.js";

/** Persistent gradient state for a set of trainable parameters. */
export class GradientState {
  readonly ctx: Context;
  /** One f32 accumulator per parameter (same shape). */
  readonly accumulators: Tensor[];
  /** The loss gradient seed (1.0), persistent so that resets survive allocation. */
  readonly lossGrad: Tensor;

  constructor(readonly params: Tensor[]) {
    if (params.length === 0) throw new EngineError("no trainable parameters");
    for (const p of params)
      if (p.type !== GgmlType.F32) throw new EngineError(`trainable parameter ${p} must be f32`);
    this.ctx = new Context({ maxTensors: params.length + 4 });
    this.accumulators = params.map((p) =>
      this.ctx.tensor(GgmlType.F32, p.ne, `grad acc ${p.name}`.slice(0, 60)),
    );
    this.lossGrad = this.ctx.f32([1, 1, 1, 1], "loss grad");
    this.ctx.allocate();
    this.zero();
    this.lossGrad.set(new Float32Array([1]));
  }

  /** Zeroes every accumulator (start of an accumulation window). */
  zero(): void {
    for (const a of this.accumulators) a.fillBytes(0);
  }

  free(): void {
    this.ctx.free();
  }
}

/**
 * Marks parameters and loss; must run BEFORE the forward graph is built (ggml makes parameters graph nodes
 * only when the flag is already set).
 */
export function markTrainable(params: Tensor[], loss: Tensor): void {
  const g = ggml();
  for (const p of params) g.ggml_set_param(p.ptr);
  if (loss.nelements !== 1) throw new EngineError(`the loss must be a scalar, got ${loss}`);
  g.ggml_set_loss(loss.ptr);
}

/**
 * Turns a forward graph (built with `grads: true`) into forward+backward, accumulating parameter gradients
 * into `state`. `transposed` maps a frozen weight (by pointer) to a copy of its transpose (f16/bf16/quant):
 * the slow OUT_PROD through it is rewritten into a MUL_MAT.
 */
export function buildBackward(
  graph: Graph,
  loss: Tensor,
  state: GradientState,
  transposed: Map<bigint, Tensor> = new Map(),
): { rewritten: number; outProducts: number } {
  const g = ggml();
  const n = graph.nNodes;
  const accs = new BigUint64Array(n);
  const index = new Map(state.params.map((p, i) => [p.ptr, i]));
  let sawLoss = false;
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const node = graph.node(i);
    const pi = index.get(node.ptr);
    if (pi !== undefined) {
      accs[i] = state.accumulators[pi].ptr;
      seen.add(pi);
    } else if (node.ptr === loss.ptr) {
      accs[i] = state.lossGrad.ptr;
      sawLoss = true;
    }
  }
  if (!sawLoss) throw new EngineError("the loss is not a node of the graph");
  const missing = state.params.filter((_, i) => !seen.has(i));
  if (missing.length)
    throw new EngineError(
      `parameters not used by the graph (or marked after building it): ${missing.join(", ")}`,
    );
  checkGradientLayouts(graph, checkBackwardSupported(graph));
  // The backward pass roughly triples the node count; check the budget before ggml asserts on it.
  if (n * 4 > graph.size)
    throw new EngineError(`graph size ${graph.size} too small for backward of ${n} nodes`);
  graph.ctx.reserve(n * 3);
  g.ggml_build_backward_expand(graph.ctx.ptr, graph.ptr, accs);
  if (graph.nNodes >= graph.size) throw new EngineError("graph full after backward expansion");
  const rewritten = rewriteQuantizedBackward(graph, transposed);
  return { rewritten, outProducts: rewriteOutProducts(graph) };
}

export function isParam(t: Tensor): boolean {
  return (t.flags & TensorFlag.PARAM) !== 0;
}

// Ops that ggml_compute_backward (ggml.c) differentiates in this release; anything else aborts the process.
const BACKWARD_OPS = new Set<number>(
  [
    "DUP",
    "ADD",
    "ACC",
    "SUB",
    "MUL",
    "DIV",
    "SQR",
    "SQRT",
    "LOG",
    "SIN",
    "COS",
    "SUM",
    "SUM_ROWS",
    "MEAN",
    "REPEAT",
    "REPEAT_BACK",
    "RMS_NORM",
    "MUL_MAT",
    "SCALE",
    "SET",
    "CPY",
    "CONT",
    "RESHAPE",
    "VIEW",
    "PERMUTE",
    "TRANSPOSE",
    "GET_ROWS",
    "DIAG_MASK_INF",
    "DIAG_MASK_ZERO",
    "SOFT_MAX",
    "ROPE",
    "CROSS_ENTROPY_LOSS",
    // gradient to the data only (IM2COL_BACK); the kernel argument is read for its shape
    "IM2COL",
    "NONE",
  ].map((n) => GgmlOp[n as keyof typeof GgmlOp]),
);
// ggml_unary_op values with a backward: ABS 0, SGN 1, NEG 2, STEP 3, RELU 6, SILU 10, EXP 13, EXPM1 14, SOFTPLUS 15
const BACKWARD_UNARY = new Set([0, 1, 2, 3, 6, 10, 13, 14, 15]);
const UNARY_NAMES = [
  "abs",
  "sgn",
  "neg",
  "step",
  "tanh",
  "elu",
  "relu",
  "sigmoid",
  "gelu",
  "gelu_quick",
  "silu",
  "hardswish",
  "hardsigmoid",
  "exp",
  "expm1",
  "softplus",
  "gelu_erf",
  "xielu",
  "floor",
  "ceil",
  "round",
  "trunc",
];
// ggml_glu_op with a backward: SWIGLU 2
const BACKWARD_GLU = new Set([2]);

/**
 * Walks the forward graph the way ggml_build_backward_expand will, and refuses (instead of letting ggml abort)
 * when a node on the gradient path has no backward or takes a gradient through a non-float input. Returns the
 * nodes that get a gradient ({@link gradientNodes}).
 */
export function checkBackwardSupported(graph: Graph): Set<bigint> {
  const needs = gradientNodes(graph);
  for (const node of graph.nodes()) {
    if (!needs.has(node.ptr)) continue;
    const op = node.op;
    if (op === GgmlOp.MUL_MAT) {
      // ggml's MUL_MAT backward for a broadcast src0 only handles src1 with ne[3] == 1 (GGML_ASSERT)
      const a = node.src(0)!;
      const b = node.src(1)!;
      if (needs.has(a.ptr) && (a.ne[2] !== b.ne[2] || a.ne[3] !== b.ne[3]) && b.ne[3] !== 1)
        throw new EngineError(
          `backward: ${node} broadcasts ${a} over ${b} in 4-D; ggml cannot differentiate that (repeat ${a} first)`,
        );
    }
    let ok = BACKWARD_OPS.has(op);
    let what = ggml().ggml_op_name(op) ?? String(op);
    if (op === GgmlOp.UNARY) {
      ok = BACKWARD_UNARY.has(node.opParam(0));
      what = `unary ${UNARY_NAMES[node.opParam(0)] ?? node.opParam(0)}`;
    } else if (op === GgmlOp.GLU) {
      ok = BACKWARD_GLU.has(node.opParam(0));
      what = `glu ${node.opParam(0)}`;
    }
    if (!ok)
      throw new EngineError(
        `backward: ggml has no gradient for ${what} (node ${node}); use a differentiable form`,
      );
  }
  return needs;
}
