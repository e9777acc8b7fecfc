// Graph operations with the checks ggml would otherwise make with GGML_ASSERT (which aborts the process).
// Every op validates its inputs in TypeScript first, then calls ggml. Shapes are in ggml order.
import { EngineError } from "../util/errors.js";
import { GgmlType, ggmlTypeName, isQuantized } from "../gguf/ggml-types.js";
import type { Context } from "./context.js";
import { ggml, type Ptr } from "./ffi.js";
import { Tensor, TensorFlag } from "./tensor.js";

/** RoPE modes as llama.cpp passes them (ggml.h GGML_ROPE_TYPE_*). */
export const RopeMode = { NORMAL: 0, NEOX: 2 } as const;

export interface RopeOptions {
  /** Dimensions rotated (≤ head size, even). */
  nDims: number;
  mode: number;
  freqBase: number;
  freqScale?: number;
  nCtxOrig?: number;
  extFactor?: number;
  attnFactor?: number;
  betaFast?: number;
  betaSlow?: number;
  /** Per-dimension frequency factors (llama 3.1 `rope_freqs.weight`), f32 [nDims/2]. */
  freqFactors?: Tensor;
}

const same = (a: readonly number[], b: readonly number[]) => a.every((v, i) => v === b[i]);
const fmt = (t: Tensor) => t.toString();

function fail(op: string, msg: string): never {
  throw new EngineError(`${op}: ${msg}`);
}

/** b can be broadcast onto a (ggml_can_repeat). */
function canRepeat(b: Tensor, a: Tensor): boolean {
  const nb = b.ne;
  return a.ne.every((n, i) => nb[i] > 0 && n % nb[i] === 0);
}

/** Stride, padding and dilation of a 2-D convolution, per spatial dimension [x, y]. */
export interface Conv2dOptions {
  /** Step between windows (default [1, 1]). */
  stride?: [number, number];
  /** Zeros added on both sides (default [0, 0]). */
  padding?: [number, number];
  /** Spacing of kernel taps (default [1, 1]). */
  dilation?: [number, number];
}

type ConvParams = [number, number, number, number, number, number];

function convParams(o: Conv2dOptions): ConvParams {
  const [s0, s1] = o.stride ?? [1, 1];
  const [p0, p1] = o.padding ?? [0, 0];
  const [d0, d1] = o.dilation ?? [1, 1];
  const p: ConvParams = [s0, s1, p0, p1, d0, d1];
  if (
    p.some((n) => !Number.isSafeInteger(n) || n > 1 << 16) ||
    s0 < 1 ||
    s1 < 1 ||
    d0 < 1 ||
    d1 < 1 ||
    p0 < 0 ||
    p1 < 0
  )
    fail("conv_2d", `stride/dilation must be positive and padding non-negative integers, got [${p}]`);
  return p;
}

/** ggml_calc_conv_output_size for both spatial dims; fails when the kernel does not fit. */
function convOutSize(
  op: string,
  kernel: Tensor,
  x: Tensor,
  [s0, s1, p0, p1, d0, d1]: ConvParams,
): [number, number] {
  const out = (n: number, k: number, s: number, p: number, d: number) =>
    Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;
  const w = out(x.ne[0], kernel.ne[0], s0, p0, d0);
  const h = out(x.ne[1], kernel.ne[1], s1, p1, d1);
  if (
    w < 1 ||
    h < 1 ||
    x.ne[0] + 2 * p0 < d0 * (kernel.ne[0] - 1) + 1 ||
    x.ne[1] + 2 * p1 < d1 * (kernel.ne[1] - 1) + 1
  )
    fail(op, `kernel ${fmt(kernel)} does not fit input ${fmt(x)} with the given padding`);
  return [w, h];
}

/** Builds graph nodes in one context. */
export class Ops {
  constructor(readonly ctx: Context) {}

  private wrap(p: Ptr): Tensor {
    this.ctx.reserve();
    return new Tensor(p);
  }
  private get c(): Ptr {
    return this.ctx.ptr;
  }

  // ----- element-wise (b broadcasts onto a) -----
  private binary(name: "add" | "sub" | "mul" | "div", a: Tensor, b: Tensor): Tensor {
    if (!canRepeat(b, a)) fail(name, `${fmt(b)} does not broadcast onto ${fmt(a)}`);
    if (a.type !== GgmlType.F32 && name !== "add") fail(name, `${fmt(a)} must be f32`);
    if (isQuantized(b.type)) fail(name, `${fmt(b)} must not be quantized`);
    const fn = { add: ggml().ggml_add, sub: ggml().ggml_sub, mul: ggml().ggml_mul, div: ggml().ggml_div }[
      name
    ];
    return this.wrap(fn(this.c, a.ptr, b.ptr));
  }
  add(a: Tensor, b: Tensor) {
    return this.binary("add", a, b);
  }
  /** a − b; a broadcast b goes through add(a, −b), whose backward handles broadcasting (SUB's does not). */
  sub(a: Tensor, b: Tensor) {
    return same(a.ne, b.ne) ? this.binary("sub", a, b) : this.add(a, this.neg(b));
  }
  mul(a: Tensor, b: Tensor) {
    return this.binary("mul", a, b);
  }
  /** a / b of equal shapes (ggml's DIV backward does not handle broadcasting). */
  div(a: Tensor, b: Tensor) {
    if (!same(a.ne, b.ne)) fail("div", `${fmt(a)} and ${fmt(b)} must have the same shape`);
    return this.binary("div", a, b);
  }
  scale(a: Tensor, s: number) {
    if (!Number.isFinite(s)) fail("scale", `factor ${s} is not finite`);
    return this.wrap(ggml().ggml_scale(this.c, a.ptr, s));
  }

  // ----- unary -----
  private unary(name: string, fn: (c: Ptr, a: Ptr) => Ptr, a: Tensor): Tensor {
    if (a.type !== GgmlType.F32) fail(name, `${fmt(a)} must be f32`);
    return this.wrap(fn(this.c, a.ptr));
  }
  sqr = (a: Tensor) => this.unary("sqr", ggml().ggml_sqr, a);
  sqrt = (a: Tensor) => this.unary("sqrt", ggml().ggml_sqrt, a);
  log = (a: Tensor) => this.unary("log", ggml().ggml_log, a);
  exp = (a: Tensor) => this.unary("exp", ggml().ggml_exp, a);
  neg = (a: Tensor) => this.unary("neg", ggml().ggml_neg, a);
  abs = (a: Tensor) => this.unary("abs", ggml().ggml_abs, a);
  /** sign(a): −1, 0 or 1. */
  sgn = (a: Tensor) => this.unary("sgn", ggml().ggml_sgn, a);
  softplus = (a: Tensor) => this.unary("softplus", ggml().ggml_softplus, a);
  silu = (a: Tensor) => this.unary("silu", ggml().ggml_silu, a);
  relu = (a: Tensor) => this.unary("relu", ggml().ggml_relu, a);
  /** ggml's fused GELU (tanh approximation): forward only — ggml has no backward for it. */
  geluInference = (a: Tensor) => this.unary("gelu", ggml().ggml_gelu, a);
  /** ggml's tanh: forward only. */
  tanhInference = (a: Tensor) => this.unary("tanh", ggml().ggml_tanh, a);

  /** sigmoid from ops with backward: σ(z) = exp(−softplus(−z)). */
  sigmoid(a: Tensor): Tensor {
    return this.exp(this.neg(this.softplus(this.neg(a))));
  }

  /** tanh from ops with backward: tanh(x) = 2σ(2x) − 1 = σ(2x) − σ(−2x) (no constant tensor needed). */
  tanh(a: Tensor): Tensor {
    const a2 = this.scale(a, 2);
    return this.sub(this.sigmoid(a2), this.sigmoid(this.neg(a2)));
  }

  /** GELU, tanh approximation, from ops with backward: gelu(x) = x·σ(2u), u = √(2/π)(x + 0.044715x³). */
  gelu(a: Tensor): Tensor {
    const k = Math.sqrt(2 / Math.PI);
    const x3 = this.mul(this.sqr(a), a);
    const u2 = this.scale(this.add(a, this.scale(x3, 0.044715)), 2 * k);
    return this.mul(a, this.sigmoid(u2));
  }

  /** silu(a) ⊙ b, fused (with backward). */
  swiglu(a: Tensor, b: Tensor): Tensor {
    if (!same(a.ne, b.ne)) fail("swiglu", `${fmt(a)} and ${fmt(b)} differ in shape`);
    if (a.type !== GgmlType.F32 || b.type !== GgmlType.F32) fail("swiglu", "inputs must be f32");
    return this.wrap(ggml().ggml_swiglu_split(this.c, a.ptr, b.ptr));
  }

  // ----- reductions -----
  sum = (a: Tensor) => this.unary("sum", ggml().ggml_sum, a);
  sumRows = (a: Tensor) => this.unary("sum_rows", ggml().ggml_sum_rows, a);
  /** Mean over rows → [1, …]. Built as scale(sum_rows): ggml's MEAN backward only handles a single row. */
  mean = (a: Tensor) => this.scale(this.sumRows(a), 1 / a.ne[0]);
  argmax(a: Tensor): Tensor {
    if (a.type !== GgmlType.F32 || a.ne[2] !== 1 || a.ne[3] !== 1)
      fail("argmax", `${fmt(a)} must be a 2-D f32 matrix`);
    return this.wrap(ggml().ggml_argmax(this.c, a.ptr));
  }

  // ----- matrix -----
  /** W (K×N, ggml [K, N]) times x ([K, T, …]) → [N, T, …]. W may be quantized; x is f32. */
  mulMat(w: Tensor, x: Tensor): Tensor {
    const [wk, , w2, w3] = w.ne;
    const [xk, , x2, x3] = x.ne;
    if (wk !== xk) fail("mul_mat", `inner dimensions differ: ${fmt(w)} · ${fmt(x)}`);
    if (x2 % w2 !== 0 || x3 % w3 !== 0) fail("mul_mat", `batch dims of ${fmt(x)} do not broadcast ${fmt(w)}`);
    if (w.nb[0] > w.nb[1]) fail("mul_mat", `${fmt(w)} is transposed; make it contiguous first`);
    if (x.type !== GgmlType.F32) fail("mul_mat", `${fmt(x)} must be f32`);
    return this.wrap(ggml().ggml_mul_mat(this.c, w.ptr, x.ptr));
  }
  /** a ⊗ b outer product over the second dimension: [m, k] , [n, k] → [m, n]. */
  outProd(a: Tensor, b: Tensor): Tensor {
    if (a.ne[1] !== b.ne[1]) fail("out_prod", `${fmt(a)} and ${fmt(b)} differ in dimension 1`);
    if (b.ne[2] % a.ne[2] !== 0 || b.ne[3] % a.ne[3] !== 0) fail("out_prod", "batch dims do not broadcast");
    return this.wrap(ggml().ggml_out_prod(this.c, a.ptr, b.ptr));
  }

  // ----- normalisation, attention -----
  rmsNorm(a: Tensor, eps: number): Tensor {
    if (a.type !== GgmlType.F32) fail("rms_norm", `${fmt(a)} must be f32`);
    if (!(eps >= 0)) fail("rms_norm", `eps ${eps} must be ≥ 0`);
    return this.wrap(ggml().ggml_rms_norm(this.c, a.ptr, eps));
  }
  /** ggml's fused layer norm (no affine): forward only — ggml has no backward for NORM. */
  normInference(a: Tensor, eps: number): Tensor {
    if (a.type !== GgmlType.F32) fail("norm", `${fmt(a)} must be f32`);
    return this.wrap(ggml().ggml_norm(this.c, a.ptr, eps));
  }
  /** Layer norm (no affine) from ops with backward: rms_norm(x − mean(x)). */
  layerNorm(a: Tensor, eps: number): Tensor {
    return this.rmsNorm(this.sub(a, this.mean(a)), eps);
  }
  /** RoPE on a [headDim, heads, tokens, 1] tensor with I32 positions [tokens]. */
  rope(a: Tensor, positions: Tensor, o: RopeOptions): Tensor {
    if (positions.type !== GgmlType.I32 || positions.ne[0] !== a.ne[2] || positions.nelements !== a.ne[2])
      fail("rope", `positions ${fmt(positions)} must be i32 with one entry per token of ${fmt(a)}`);
    if (o.nDims % 2 !== 0 || o.nDims > a.ne[0] || o.nDims < 2)
      fail("rope", `n_dims ${o.nDims} must be even and ≤ head size ${a.ne[0]}`);
    if (a.type !== GgmlType.F32) fail("rope", `${fmt(a)} must be f32`);
    if (o.freqFactors && (o.freqFactors.type !== GgmlType.F32 || o.freqFactors.ne[0] < o.nDims / 2))
      fail("rope", `frequency factors ${o.freqFactors} must be f32 with ≥ ${o.nDims / 2} entries`);
    return this.wrap(
      ggml().ggml_rope_ext(
        this.c,
        a.ptr,
        positions.ptr,
        o.freqFactors ? o.freqFactors.ptr : null,
        o.nDims,
        o.mode,
        o.nCtxOrig ?? 0,
        o.freqBase,
        o.freqScale ?? 1,
        o.extFactor ?? 0,
        o.attnFactor ?? 1,
        o.betaFast ?? 32,
        o.betaSlow ?? 1,
      ),
    );
  }
  /** softmax(scale·a + mask) over rows; mask [n_kv, n_q_padded] f32/f16 broadcast over heads. */
  softMax(a: Tensor, mask: Tensor | null, scale = 1): Tensor {
    if (a.type !== GgmlType.F32) fail("soft_max", `${fmt(a)} must be f32`);
    if (mask) {
      if (mask.type !== GgmlType.F32 && mask.type !== GgmlType.F16)
        fail("soft_max", "mask must be f32 or f16");
      if (!mask.isContiguous) fail("soft_max", "mask must be contiguous");
      if (mask.ne[0] !== a.ne[0] || mask.ne[1] < a.ne[1])
        fail("soft_max", `mask ${fmt(mask)} does not cover ${fmt(a)}`);
      if (a.ne[2] % mask.ne[2] !== 0 || a.ne[3] % mask.ne[3] !== 0)
        fail("soft_max", "mask batch dims do not broadcast");
    }
    return this.wrap(ggml().ggml_soft_max_ext(this.c, a.ptr, mask ? mask.ptr : null, scale, 0));
  }
  /**
   * Mean cross-entropy over rows between logits [V, T] and target distributions [V, T]: −Σ labels·log_softmax / T.
   * ggml's backward assumes every label row sums to 1 (gradient softmax − labels); see engine/loss.ts for masking.
   */
  crossEntropy(logits: Tensor, labels: Tensor): Tensor {
    if (!same(logits.ne, labels.ne)) fail("cross_entropy_loss", `${fmt(logits)} vs labels ${fmt(labels)}`);
    if (logits.type !== GgmlType.F32 || labels.type !== GgmlType.F32)
      fail("cross_entropy_loss", "inputs must be f32");
    return this.wrap(ggml().ggml_cross_entropy_loss(this.c, logits.ptr, labels.ptr));
  }

  // ----- rows -----
  /** Rows of a ([n, rows, …]) picked by I32 ids → [n, ids] f32. */
  getRows(a: Tensor, ids: Tensor): Tensor {
    if (ids.type !== GgmlType.I32) fail("get_rows", `ids ${fmt(ids)} must be i32`);
    if (a.ne[2] !== ids.ne[1] || ids.ne[3] !== 1) fail("get_rows", `${fmt(ids)} does not index ${fmt(a)}`);
    return this.wrap(ggml().ggml_get_rows(this.c, a.ptr, ids.ptr));
  }
  /** Writes rows of src into dst at I32 ids (KV cache). Returns the dst view. */
  setRows(dst: Tensor, src: Tensor, ids: Tensor): Tensor {
    if (ids.type !== GgmlType.I32 && ids.type !== GgmlType.I64) fail("set_rows", "ids must be i32 or i64");
    if (dst.ne[0] !== src.ne[0] || src.ne[1] !== ids.ne[0])
      fail("set_rows", `${fmt(src)} at ${fmt(ids)} into ${fmt(dst)}`);
    if (src.type !== GgmlType.F32) fail("set_rows", "source must be f32");
    return this.wrap(ggml().ggml_set_rows(this.c, dst.ptr, src.ptr, ids.ptr));
  }

  // ----- shape -----
  reshape(a: Tensor, shape: readonly number[]): Tensor {
    const n = shape.reduce((x, y) => x * y, 1);
    if (n !== a.nelements)
      fail("reshape", `${fmt(a)} has ${a.nelements} elements, not ${n} [${shape.join(", ")}]`);
    if (!a.isContiguous) fail("reshape", `${fmt(a)} is not contiguous`);
    const g = ggml();
    switch (shape.length) {
      case 1:
        return this.wrap(g.ggml_reshape_1d(this.c, a.ptr, shape[0]));
      case 2:
        return this.wrap(g.ggml_reshape_2d(this.c, a.ptr, shape[0], shape[1]));
      case 3:
        return this.wrap(g.ggml_reshape_3d(this.c, a.ptr, shape[0], shape[1], shape[2]));
      case 4:
        return this.wrap(g.ggml_reshape_4d(this.c, a.ptr, shape[0], shape[1], shape[2], shape[3]));
    }
    fail("reshape", `1 to 4 dimensions, got ${shape.length}`);
  }
  /** A strided view: ne (4), byte strides nb1..nb3 and a byte offset, checked to stay inside a. */
  view(a: Tensor, ne: readonly number[], nb: readonly number[], offset: number): Tensor {
    const ne4 = [...ne, 1, 1, 1].slice(0, 4);
    const nb4 = [0, ...nb, 0, 0].slice(0, 4);
    const g = ggml();
    nb4[0] = g.ggml_type_size(a.type);
    if (nb4[1] === 0) nb4[1] = g.ggml_row_size(a.type, ne4[0]);
    for (let i = 2; i < 4; i++) if (nb4[i] === 0) nb4[i] = nb4[i - 1] * ne4[i - 1];
    let last = offset + g.ggml_row_size(a.type, ne4[0]);
    for (let i = 1; i < 4; i++) last += (ne4[i] - 1) * nb4[i];
    if (offset < 0 || last > a.nbytes)
      fail("view", `view [${ne4}] at ${offset} overruns ${fmt(a)} (${a.nbytes} bytes)`);
    return this.wrap(
      g.ggml_view_4d(this.c, a.ptr, ne4[0], ne4[1], ne4[2], ne4[3], nb4[1], nb4[2], nb4[3], offset),
    );
  }
  permute(a: Tensor, axes: readonly [number, number, number, number]): Tensor {
    if (new Set(axes).size !== 4 || axes.some((x) => x < 0 || x > 3)) fail("permute", `bad axes [${axes}]`);
    return this.wrap(ggml().ggml_permute(this.c, a.ptr, ...axes));
  }
  transpose(a: Tensor): Tensor {
    return this.wrap(ggml().ggml_transpose(this.c, a.ptr));
  }
  cont(a: Tensor): Tensor {
    return this.wrap(ggml().ggml_cont(this.c, a.ptr));
  }
  /** Copies a into b's memory (same element count), converting type. */
  cpy(a: Tensor, b: Tensor): Tensor {
    if (a.nelements !== b.nelements) fail("cpy", `${fmt(a)} and ${fmt(b)} differ in size`);
    return this.wrap(ggml().ggml_cpy(this.c, a.ptr, b.ptr));
  }
  cast(a: Tensor, type: number): Tensor {
    if (isQuantized(type) && a.ne[0] % 32 !== 0)
      fail("cast", `rows of ${fmt(a)} are not whole ${ggmlTypeName(type)} blocks`);
    return this.wrap(ggml().ggml_cast(this.c, a.ptr, type));
  }
  repeat(a: Tensor, like: Tensor): Tensor {
    if (!canRepeat(a, like)) fail("repeat", `${fmt(a)} does not repeat into ${fmt(like)}`);
    return this.wrap(ggml().ggml_repeat(this.c, a.ptr, like.ptr));
  }
  /** Tiles a to shape ne (each ne[i] a multiple of a.ne[i]); differentiable (REPEAT). */
  repeatTo(a: Tensor, ne: readonly [number, number, number, number]): Tensor {
    if (ne.some((n, i) => n % a.ne[i] !== 0)) fail("repeat", `${fmt(a)} does not tile into [${ne}]`);
    return this.wrap(ggml().ggml_repeat_4d(this.c, a.ptr, ...ne));
  }
  concat(a: Tensor, b: Tensor, dim: number): Tensor {
    if (a.type !== b.type) fail("concat", "types differ");
    for (let i = 0; i < 4; i++)
      if (i !== dim && a.ne[i] !== b.ne[i]) fail("concat", `${fmt(a)} vs ${fmt(b)} on dim ${i}`);
    return this.wrap(ggml().ggml_concat(this.c, a.ptr, b.ptr, dim));
  }

  // ----- convolution, padding, pooling, resizing (vision encoders; forward only: ggml has no backward for
  // CONV_2D, PAD or UPSCALE, and IM2COL's backward reaches the data, not the kernel) -----
  /**
   * 2-D convolution (ggml_conv_2d_direct): kernel [KW, KH, C_in, C_out] f32/f16, x [W, H, C_in, N] f32
   * → [W_out, H_out, C_out, N].
   */
  conv2d(kernel: Tensor, x: Tensor, o: Conv2dOptions = {}): Tensor {
    const p = convParams(o);
    if (kernel.type !== GgmlType.F32 && kernel.type !== GgmlType.F16)
      fail("conv_2d", `kernel ${fmt(kernel)} must be f32 or f16`);
    if (!kernel.isContiguous) fail("conv_2d", `kernel ${fmt(kernel)} must be contiguous`);
    if (x.type !== GgmlType.F32) fail("conv_2d", `input ${fmt(x)} must be f32`);
    if (kernel.ne[2] !== x.ne[2])
      fail(
        "conv_2d",
        `kernel ${fmt(kernel)} expects ${kernel.ne[2]} input channels, ${fmt(x)} has ${x.ne[2]}`,
      );
    convOutSize("conv_2d", kernel, x, p);
    return this.wrap(ggml().ggml_conv_2d_direct(this.c, kernel.ptr, x.ptr, ...p));
  }
  /**
   * Depthwise 2-D convolution as llama.cpp builds it (ggml_conv_2d_dw: im2col to f16, then mul_mat):
   * kernel [KW, KH, 1, C] f16 or bf16 (ggml's CPU matmul cannot take an f32 kernel with the f16 im2col),
   * x [W, H, C, N] f32 contiguous → [W_out, H_out, C, N].
   */
  conv2dDepthwise(kernel: Tensor, x: Tensor, o: Conv2dOptions = {}): Tensor {
    const p = convParams(o);
    if (kernel.type !== GgmlType.F16 && kernel.type !== GgmlType.BF16)
      fail("conv_2d_dw", `kernel ${fmt(kernel)} must be f16 or bf16`);
    if (kernel.ne[2] !== 1 || kernel.ne[3] !== x.ne[2])
      fail("conv_2d_dw", `kernel ${fmt(kernel)} must be [KW, KH, 1, ${x.ne[2]}] for ${fmt(x)}`);
    if (!kernel.isContiguous || !x.isContiguous) fail("conv_2d_dw", "kernel and input must be contiguous");
    if (x.type !== GgmlType.F32) fail("conv_2d_dw", `input ${fmt(x)} must be f32`);
    convOutSize("conv_2d_dw", kernel, x, p);
    // ggml_conv_2d_dw creates 7 tensors (reshapes, im2col, mul_mat); wrap() counts the last one
    this.ctx.reserve(6);
    return this.wrap(ggml().ggml_conv_2d_dw(this.c, kernel.ptr, x.ptr, ...p));
  }
  /** Zero padding: [left, right] counts for each of the 4 dimensions (f32). */
  padExt(a: Tensor, pads: readonly [number, number, number, number, number, number, number, number]): Tensor {
    if (a.type !== GgmlType.F32) fail("pad", `${fmt(a)} must be f32`);
    if (pads.some((n) => !Number.isSafeInteger(n) || n < 0 || n > 1 << 20))
      fail("pad", `paddings [${pads}] must be non-negative integers`);
    return this.wrap(ggml().ggml_pad_ext(this.c, a.ptr, ...pads));
  }
  /** Nearest-neighbour upsampling of dimensions 0 and 1 by an integer factor > 1 (f32). */
  upscaleNearest(a: Tensor, factor: number): Tensor {
    if (a.type !== GgmlType.F32) fail("upscale", `${fmt(a)} must be f32`);
    if (!Number.isSafeInteger(factor) || factor < 2 || factor > 1 << 12)
      fail("upscale", `factor ${factor} must be an integer ≥ 2`);
    return this.wrap(ggml().ggml_upscale(this.c, a.ptr, factor, 0 /* GGML_SCALE_MODE_NEAREST */));
  }
  /** 2-D average or max pooling over dimensions 0 and 1 (f32): kernel k, stride s, padding p. */
  pool2d(
    a: Tensor,
    op: "avg" | "max",
    k: [number, number],
    s: [number, number],
    p: [number, number] = [0, 0],
  ): Tensor {
    if (a.type !== GgmlType.F32) fail("pool_2d", `${fmt(a)} must be f32`);
    for (const n of [...k, ...s])
      if (!Number.isSafeInteger(n) || n < 1)
        fail("pool_2d", `kernel [${k}] and stride [${s}] must be positive integers`);
    if (p.some((n) => !Number.isSafeInteger(n) || n < 0))
      fail("pool_2d", `padding [${p}] must be non-negative integers`);
    for (let i = 0; i < 2; i++)
      if (Math.floor((a.ne[i] + 2 * p[i] - k[i]) / s[i]) + 1 < 1)
        fail("pool_2d", `kernel ${k[i]} does not fit ${fmt(a)} on dim ${i}`);
    const code = op === "max" ? 0 : 1; // enum ggml_op_pool: MAX, AVG
    return this.wrap(ggml().ggml_pool_2d(this.c, a.ptr, code, k[0], k[1], s[0], s[1], p[0], p[1]));
  }

  // ----- optimizer -----
  // ----- optimizer -----
  /** In-place AdamW on param p; params7 = [lr, β1, β2, ε, wd, 1/(1−β1ᵗ), 1/(1−β2ᵗ)]. */
  adamwStep(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, params7: Tensor): Tensor {
    for (const t of [grad, m, v])
      if (!same(t.ne, p.ne)) fail("opt_step_adamw", `${fmt(t)} does not match ${fmt(p)}`);
    if (params7.nelements !== 7 || params7.type !== GgmlType.F32)
      fail("opt_step_adamw", "params must be 7 f32 values");
    if (p.type !== GgmlType.F32) fail("opt_step_adamw", `parameter ${fmt(p)} must be f32`);
    if ((p.flags & TensorFlag.PARAM) === 0)
      fail("opt_step_adamw", `${fmt(p)} is not marked as a parameter (ggml_set_param)`);
    return this.wrap(ggml().ggml_opt_step_adamw(this.c, p.ptr, grad.ptr, m.ptr, v.ptr, params7.ptr));
  }
}
