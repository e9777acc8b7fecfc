// ggml_im2col as a validated op: the patches of a 2-D convolution, so that a convolution can be built as
// im2col + mul_mat — which ggml can differentiate (MUL_MAT for the kernel, IM2COL_BACK for the data), unlike
// CONV_2D. Bound here rather than in ffi.ts (same library, same koffi handle semantics) to keep the change
// self-contained.
import koffi from "koffi";
import { EngineError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { ggml, type Ptr } from "./ffi.js";
import type { Ops } from "./ops.js";
import { Tensor } from "./tensor.js";

type Im2colFn = (
  ctx: Ptr,
  a: Ptr,
  b: Ptr,
  s0: number,
  s1: number,
  p0: number,
  p1: number,
  d0: number,
  d1: number,
  is2D: boolean,
  dstType: number,
) => Ptr;

let im2colFn: Im2colFn | undefined;
function bindIm2col(): Im2colFn {
  if (im2colFn) return im2colFn;
  const lib = koffi.load(ggml().folder.baseLibrary);
  im2colFn = lib.func(
    "void* ggml_im2col(void* ctx, void* a, void* b, int s0, int s1, int p0, int p1, int d0, int d1, bool is_2D, int dst_type)",
  ) as unknown as Im2colFn;
  return im2colFn;
}

/** Options of {@link im2col}: per spatial dimension [x, y]. */
export interface Im2colOptions {
  stride?: [number, number];
  padding?: [number, number];
}

/**
 * Patches of x [W, H, C, N] (f32, contiguous) for a kernel of shape [KW, KH, C, ·] (only its shape is read):
 * f32 [C·KH·KW, W_out, H_out, N], element (c·KH + ky)·KW + kx of each column — the flattening of a ggml kernel
 * [KW, KH, C, C_out], so mulMat(kernel as [KW·KH·C, C_out], patches) is the convolution.
 */
export function im2col(ops: Ops, kernel: Tensor, x: Tensor, o: Im2colOptions = {}): Tensor {
  const [s0, s1] = o.stride ?? [1, 1];
  const [p0, p1] = o.padding ?? [0, 0];
  for (const n of [s0, s1])
    if (!Number.isSafeInteger(n) || n < 1) throw new EngineError(`im2col: stride ${n}`);
  for (const n of [p0, p1])
    if (!Number.isSafeInteger(n) || n < 0) throw new EngineError(`im2col: padding ${n}`);
  if (x.type !== GgmlType.F32 || !x.isContiguous)
    throw new EngineError(`im2col: ${x} must be contiguous f32`);
  if (kernel.ne[2] !== x.ne[2])
    throw new EngineError(`im2col: kernel ${kernel} has ${kernel.ne[2]} channels, ${x} has ${x.ne[2]}`);
  const ow = Math.floor((x.ne[0] + 2 * p0 - kernel.ne[0]) / s0) + 1;
  const oh = Math.floor((x.ne[1] + 2 * p1 - kernel.ne[1]) / s1) + 1;
  if (ow < 1 || oh < 1 || x.ne[0] + 2 * p0 < kernel.ne[0] || x.ne[1] + 2 * p1 < kernel.ne[1])
    throw new EngineError(`im2col: kernel ${kernel} does not fit ${x}`);
  ops.ctx.reserve();
  return new Tensor(bindIm2col()(ops.ctx.ptr, kernel.ptr, x.ptr, s0, s1, p0, p1, 1, 1, true, GgmlType.F32));
}
