// Gemma 3's vision encoder graph on the engine, as llama.cpp's tools/mtmd builds it (clip.cpp build_inp /
// build_vit with NORM_TYPE_NORMAL and FFN_GELU, models/siglip.cpp for PROJECTOR_TYPE_GEMMA3):
// patch embedding (conv p×p stride p, written here as one matmul over the patch matrix), learned positions,
// N pre-LN blocks (non-causal multi-head attention, GELU MLP), post-LN, then the projector: p/k × p/k
// average pooling of the patch grid, RMS norm × soft_emb_norm, projection to the text width.
// Every op has a backward when `inference` is false, so vision layers and projector can be trained.
import type { Ops } from "../../engine/ops.js";
import type { Tensor } from "../../engine/tensor.js";
import { EngineError } from "../../util/errors.js";
import { GgmlType } from "../../gguf/ggml-types.js";
import { plainLinear, type LinearFn } from "../decoder.js";
import { nPatches, patchesPerSide, type SiglipVisionConfig } from "./siglip-config.js";
import type { VisionWeights } from "./vision-weights.js";

export interface SiglipInputs {
  /** F32 [imageSize, imageSize, 3, B] normalised pixels, planar (preprocessImage's layout), B images. */
  pixels: Tensor;
  /** Hook for LoRA on the linear layers ("v.blk.N.attn_q" … "mm.input_projection"); default W·x. */
  linear?: LinearFn;
  /**
   * No backward will be built: use ggml's fused layer norm and GELU (GELU from an f16 table), exactly what
   * llama.cpp computes. Otherwise both are composed from ops with backward (GELU-tanh computed in f32,
   * which differs from the table by up to ~1e-3 relative on single activations).
   */
  inference?: boolean;
}

/** Graph nodes the encoder needs for B images (to size contexts and graphs). */
export function visionNodesEstimate(c: SiglipVisionConfig): number {
  return 64 + 120 * c.nLayer;
}

/** Soft tokens F32 [projectionDim, nImageTokens·B]: image b's tokens are columns b·nImageTokens …, row-major grid. */
export function buildSiglipVision(
  ops: Ops,
  c: SiglipVisionConfig,
  w: VisionWeights,
  inp: SiglipInputs,
): Tensor {
  const S = c.imageSize;
  const p = c.patchSize;
  const E = c.nEmbd;
  const [s0, s1, ch, B] = inp.pixels.ne;
  if (s0 !== S || s1 !== S || ch !== 3)
    throw new EngineError(`vision input ${inp.pixels} must be [${S}, ${S}, 3, B]`);
  const linear = inp.linear ?? plainLinear;
  const nP = nPatches(c);
  const side = patchesPerSide(c);
  const lin = (name: string, x: Tensor) =>
    ops.add(linear(ops, name, w.get(`${name}.weight`), x), w.get(`${name}.bias`));
  const norm = (x: Tensor, name: string) =>
    ops.add(
      ops.mul(inp.inference ? ops.normInference(x, c.eps) : ops.layerNorm(x, c.eps), w.get(`${name}.weight`)),
      w.get(`${name}.bias`),
    );

  // patch matrix [p·p·3, nP·B]: row px + p·py + p²·c, column ix + side·iy (conv2d's im2col order)
  let x = ops.reshape(inp.pixels, [p, side, p, side * 3 * B]); // (px, ix, py, iy + side·(c + 3b))
  x = ops.cont(ops.permute(x, [0, 2, 1, 3])); // (px, py, ix, …)
  x = ops.reshape(x, [p * p, nP, 3, B]);
  x = ops.cont(ops.permute(x, [0, 2, 1, 3])); // (pp, c, patch, b)
  x = ops.reshape(x, [p * p * 3, nP * B]);
  let kernel = ops.reshape(w.get("v.patch_embd.weight"), [p * p * 3, E]);
  if (inp.inference) {
    // ggml_conv_2d builds its im2col matrix in f16 and multiplies it (src0) with the kernel, which ggml then
    // rounds to f16 as well; doing the same keeps llama.cpp's numbers (~3e-4 relative apart otherwise).
    if (kernel.type !== GgmlType.F32) kernel = ops.cast(kernel, GgmlType.F32);
    x = ops.cont(ops.transpose(ops.mulMat(ops.cast(x, GgmlType.F16), kernel))); // [E, nP·B]
  } else x = ops.mulMat(kernel, x); // [E, nP·B], f32 (trainable kernel)
  x = ops.add(x, w.get("v.patch_embd.bias"));
  x = ops.add(x, w.get("v.position_embd.weight"));

  const hd = E / c.nHead;
  // clip computes 1.0f / sqrtf(d_head) in float; for Gemma 3's d_head 72 that is 1 ulp away from 1/√72 rounded
  const kqScale = Math.fround(1 / Math.fround(Math.sqrt(hd)));
  for (let il = 0; il < c.nLayer; il++) {
    const b = `v.blk.${il}`;
    const h = norm(x, `${b}.ln1`);
    const heads = (t: Tensor) => ops.reshape(t, [hd, c.nHead, nP, B]);
    const q = ops.permute(heads(lin(`${b}.attn_q`, h)), [0, 2, 1, 3]); // [hd, nP, nHead, B]
    const k = ops.permute(heads(lin(`${b}.attn_k`, h)), [0, 2, 1, 3]);
    const vT = ops.cont(ops.permute(heads(lin(`${b}.attn_v`, h)), [1, 2, 0, 3])); // [nP, hd, nHead, B]
    const kq = ops.softMax(ops.mulMat(k, q), null, kqScale); // [nP(k), nP(q), nHead, B]
    const att = ops.cont(ops.permute(ops.mulMat(vT, kq), [0, 2, 1, 3])); // [hd, nHead, nP, B]
    x = ops.add(lin(`${b}.attn_out`, ops.reshape(att, [E, nP * B])), x);
    const f = norm(x, `${b}.ln2`);
    const up = lin(`${b}.ffn_up`, f);
    const act = inp.inference ? ops.geluInference(up) : ops.gelu(up);
    x = ops.add(x, lin(`${b}.ffn_down`, act));
  }
  x = norm(x, "v.post_ln");

  // average pooling over mergeFactor × mergeFactor patches, summed in ggml_pool_2d's order (float, window row
  // by row) so that the f16 rounding before an f16 projection sees the same values as in llama.cpp
  const k = c.mergeFactor;
  const t = side / k;
  const grid = ops.cont(ops.permute(ops.reshape(x, [E, nP, B]), [1, 0, 2, 3])); // (ix, iy, e, b)
  // (kx, ox, ky, oy + t·(e + E·b)): x = kx + k·ox, y = ky + k·oy
  const split = ops.reshape(grid, [k, t, k, t * E * B]);
  const f = 4; // bytes per f32
  let g: Tensor | undefined;
  for (let ky = 0; ky < k; ky++)
    for (let kx = 0; kx < k; kx++) {
      const v = ops.view(split, [1, t, 1, t * E * B], [k * f, side * f, k * side * f], (kx + ky * side) * f);
      g = g ? ops.add(g, v) : v;
    }
  g = ops.scale(ops.reshape(ops.cont(g!), [t, t, E * B]), 1 / (k * k)); // (ox, oy, e·b); exact for k = 2, 4
  g = ops.cont(ops.permute(ops.reshape(g, [t * t, E, B]), [1, 0, 2, 3])); // [E, nTok, B]
  g = ops.reshape(g, [E, t * t * B]);

  g = ops.mul(ops.rmsNorm(g, c.eps), w.get("mm.soft_emb_norm.weight"));
  const proj = ops.cont(ops.transpose(w.get("mm.input_projection.weight"))); // [E, projectionDim]
  return linear(ops, "mm.input_projection", proj, g);
}
