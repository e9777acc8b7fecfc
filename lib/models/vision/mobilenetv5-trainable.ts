// MobileNet-V5 built only from ops ggml can differentiate, for training the encoder (LoRA on its 1×1 convs,
// or every tensor). Same computation as mobilenetv5.ts (llama.cpp's graph), in another form:
// - activations are channels-first [C, W, H, B], so 1×1 convs are plain matmuls (through the LoRA hook, named
//   "<prefix>.pw_exp.conv", "<prefix>.attn.query.proj", …) and the RMS norm over channels needs no permute;
// - k×k convs are im2col (f32) + mul_mat; depthwise ones im2col × kernel summed over taps; SAME padding at
//   stride 2 on an even side is the stride-1 result at odd positions (a strided view), no PAD op;
// - GELU is Ops.gelu (tanh form from ops with backward); nearest upsampling is REPEAT; the fusion adapter's
//   concat + 1×1 expansion is the sum of the expansion's two column blocks applied to each input; the
//   average pool is SUM_ROWS over reshaped windows.
// Differences from the inference graph come from f32 vs f16 rounding (llama.cpp's im2col and GELU table).
import { EngineError } from "../../util/errors.js";
import { GgmlType } from "../../gguf/ggml-types.js";
import type { Ops } from "../../engine/ops.js";
import type { Tensor } from "../../engine/tensor.js";
import { im2col } from "../../engine/ops-im2col.js";
import type { LinearFn } from "../decoder.js";
import {
  BLOCK_SUFFIXES,
  MNV5,
  MNV5_EPS,
  MSFA_OUTPUT_SIDE,
  blockName,
  type BlockTensor,
  type MobileNetV5Block,
  type MobileNetV5Config,
} from "./mobilenetv5-config.js";
import type { VisionTensors } from "./mobilenetv5.js";

const fail = (msg: string): never => {
  throw new EngineError(`mobilenetv5 (training graph): ${msg}`);
};

/** LoRA-hook names of the encoder's 1×1 convs ("<prefix>.<suffix without .weight>"). */
export function mobileNetV5LinearNames(c: MobileNetV5Config): string[] {
  const out: string[] = [];
  const oneByOne: BlockTensor[] = ["convPwl", "pwExp", "pwProj", "attnQ", "attnK", "attnV", "attnO"];
  for (const b of c.stages.flat())
    for (const t of oneByOne)
      if (b.has.has(t)) out.push(`${b.prefix}.${BLOCK_SUFFIXES[t].replace(/\.weight$/, "")}`);
  out.push(MNV5.msfaProj.replace(/\.weight$/, ""));
  return out;
}

/** Encoder features F32 [W, H, nEmbd, B] (as buildMobileNetV5 returns them), differentiable. */
export function buildMobileNetV5Trainable(
  ops: Ops,
  c: MobileNetV5Config,
  w: VisionTensors,
  inp: { pixels: Tensor; linear?: LinearFn },
): Tensor {
  const linear: LinearFn = inp.linear ?? ((o, _n, wt, x) => o.mulMat(wt, x));
  const opt = (name: string) => (w.has(name) ? w.get(name) : null);
  const x = inp.pixels;
  if (x.ne[0] !== c.imageSize || x.ne[1] !== c.imageSize || x.ne[2] !== 3)
    fail(`pixels ${x} must be [${c.imageSize}, ${c.imageSize}, 3, B]`);
  const B = x.ne[3];

  // stem: 3×3 stride-2 SAME conv (pixels are [W, H, C, B] already)
  let cur = convKxK(ops, w.get(MNV5.stemConv), x, 2); // [C, W, H, B]
  const bias = opt(MNV5.stemBias);
  if (bias) cur = ops.add(cur, ops.reshape(f32(ops, bias), [bias.nelements]));
  cur = ops.gelu(norm(ops, cur, opt(MNV5.stemNorm)));

  const blocks = c.stages.flat();
  const stageEnds: number[] = [];
  for (const s of c.stages) stageEnds.push((stageEnds.at(-1) ?? -1) + s.length);
  const isStageStart = (i: number) => i === 0 || stageEnds.some((e) => i === e + 1);
  const isFusionPoint = (i: number) =>
    stageEnds.length >= 4 ? i === stageEnds[2] || i === stageEnds[3] : i === blocks.length - 1;
  const features: Tensor[] = [];
  blocks.forEach((b, i) => {
    const stride = isStageStart(i) ? 2 : 1;
    if (b.kind === "edge") cur = edge(ops, w, b, cur, stride, linear);
    else if (b.kind === "mqa") cur = attention(ops, w, b, cur, linear);
    else cur = uir(ops, w, b, cur, stride, linear);
    if (isFusionPoint(i)) features.push(cur);
  });

  // fusion adapter: upsample to the first feature map, expansion as a sum over the concat's column blocks
  const [, hw, hh] = features[0].ne;
  const resized = features.map((f) => {
    if (f.ne[1] >= hw && f.ne[2] >= hh) return f;
    if (hw % f.ne[1] !== 0 || hw / f.ne[1] !== hh / f.ne[2]) fail(`cannot upsample ${f} to ${hw}×${hh}`);
    return upsampleNearest(ops, f, hw / f.ne[1]);
  });
  const exp = opt(MNV5.msfaExp);
  if (exp) {
    const k = kernel2d(ops, exp); // [ΣC, Cmid]
    const total = resized.reduce((n, f) => n + f.ne[0], 0);
    if (k.ne[0] !== total) fail(`${MNV5.msfaExp} takes ${k.ne[0]} channels, the features have ${total}`);
    let off = 0;
    let sum: Tensor | undefined;
    for (const f of resized) {
      const part = ops.view(k, [f.ne[0], k.ne[1]], [k.nb[1]], off * k.nb[0]);
      const y = ops.mulMat(part, flat(ops, f));
      sum = sum ? ops.add(sum, y) : y;
      off += f.ne[0];
    }
    cur = unflat(ops, sum!, hw, hh, B);
    cur = ops.gelu(norm(ops, cur, opt(MNV5.msfaExpNorm)));
  } else {
    if (resized.length > 1) fail("a fusion adapter without pw_exp cannot concatenate in the training graph");
    cur = resized[0];
  }
  const proj = opt(MNV5.msfaProj);
  if (proj) cur = norm(ops, conv1x1(ops, MNV5.msfaProj, proj, cur, linear), opt(MNV5.msfaProjNorm));
  const side = cur.ne[1];
  if (side > MSFA_OUTPUT_SIDE) {
    if (side % MSFA_OUTPUT_SIDE !== 0) fail(`a ${side}-wide fused map does not pool to ${MSFA_OUTPUT_SIDE}`);
    cur = avgPool(ops, cur, side / MSFA_OUTPUT_SIDE);
  }
  cur = norm(ops, cur, opt(MNV5.msfaNorm));
  if (cur.ne[0] !== c.nEmbd) fail(`the encoder gives ${cur.ne[0]} channels, embedding_length is ${c.nEmbd}`);
  return toSpatial(ops, cur); // [C, W, H, B] → [W, H, C, B]
}

/**
 * [C, W, H, B] → [W, H, C, B]. The no-op reshape first matters for training: ggml's PERMUTE backward hands
 * back a permuted (non-contiguous) gradient, which element-wise backward ops cannot read; RESHAPE's backward
 * makes it contiguous.
 */
function toSpatial(ops: Ops, x: Tensor): Tensor {
  return ops.cont(ops.permute(ops.reshape(x, [...x.ne]), [2, 0, 1, 3]));
}

/** An f32 version of a weight (a CPY node when it is stored in f16: ggml multiplies f32 by f32 only). */
function f32(ops: Ops, t: Tensor): Tensor {
  return t.type === GgmlType.F32 ? t : ops.cast(t, GgmlType.F32);
}

/** RMS norm over channels (ne0 of a channels-first map) × weight. */
function norm(ops: Ops, x: Tensor, weight: Tensor | null): Tensor {
  const y = ops.rmsNorm(x, MNV5_EPS);
  return weight ? ops.mul(y, ops.reshape(weight, [weight.nelements])) : y;
}

/** A 1×1 conv kernel [1, 1, Cin, Cout] as the matrix [Cin, Cout]. */
function kernel2d(ops: Ops, k: Tensor): Tensor {
  return ops.reshape(k, [k.ne[0] * k.ne[1] * k.ne[2], k.ne[3]]);
}
const flat = (ops: Ops, x: Tensor) => ops.reshape(x, [x.ne[0], x.ne[1] * x.ne[2] * x.ne[3]]);
const unflat = (ops: Ops, x: Tensor, W: number, H: number, B: number) => ops.reshape(x, [x.ne[0], W, H, B]);

/** 1×1 conv on a channels-first map through the LoRA hook. */
function conv1x1(ops: Ops, name: string, k: Tensor, x: Tensor, linear: LinearFn): Tensor {
  if (k.ne[0] !== 1 || k.ne[1] !== 1) fail(`${name} is not a 1×1 kernel: ${k}`);
  const y = linear(ops, name.replace(/\.weight$/, ""), kernel2d(ops, k), flat(ops, x));
  return unflat(ops, y, x.ne[1], x.ne[2], x.ne[3]);
}

/**
 * Patches for a k×k window: stride 1 with k/2 padding, or SAME at stride 2 (symmetric padding on an odd side;
 * on an even side the stride-1 patches at odd positions, which are the SAME windows).
 */
function patches(ops: Ops, kernel: Tensor, xs: Tensor, stride: number): Tensor {
  const k = kernel.ne[0];
  if (k % 2 !== 1 || kernel.ne[1] !== k) fail(`kernel ${kernel} must be square with an odd side`);
  // im2col reads only the kernel's shape: give it a shape-only leaf, never a (trainable) weight — ggml's
  // backward would otherwise visit nodes on that path that never receive a gradient (a crash, not an error)
  const kshape = ops.ctx.tensor(GgmlType.F16, [k, k, xs.ne[2], 1], "im2col kernel shape");
  const p = (k - 1) / 2;
  const [W, H] = xs.ne;
  if (stride === 1 || (W % 2 === 1 && H % 2 === 1))
    return im2col(ops, kshape, xs, { stride: [stride, stride], padding: [p, p] });
  if (W % 2 || H % 2) fail(`SAME padding on a ${W}×${H} map (mixed parity) is not supported`);
  const all = im2col(ops, kshape, xs, { padding: [p, p] }); // [K, W, H, N]
  const [K, , , N] = all.ne;
  const e = all.nb[0];
  return ops.cont(
    ops.view(all, [K, W / 2, H / 2, N], [2 * K * e, 2 * W * K * e, all.nb[3]], K * e + W * K * e),
  );
}

/** k×k conv (kernel [k, k, Cin, Cout]) of a spatial map [W, H, Cin, B] → channels-first [Cout, W', H', B]. */
function convKxK(ops: Ops, kernel: Tensor, xs: Tensor, stride: number): Tensor {
  const cols = patches(ops, kernel, xs, stride); // [K, W', H', B]
  const y = ops.mulMat(kernel2d(ops, kernel), flat(ops, cols));
  return unflat(ops, y, cols.ne[1], cols.ne[2], cols.ne[3]);
}

/** Depthwise k×k conv (kernel [k, k, 1, C]) of a channels-first map → channels-first. */
function depthwise(ops: Ops, kernel: Tensor, x: Tensor, stride: number): Tensor {
  const [C, W, H, B] = x.ne;
  if (kernel.ne[2] !== 1 || kernel.ne[3] !== C) fail(`depthwise kernel ${kernel} does not fit ${C} channels`);
  const spatial = ops.reshape(toSpatial(ops, x), [W, H, 1, C * B]);
  const cols = patches(ops, kernel, spatial, stride); // [kk, W', H', C·B]
  const kk = kernel.ne[0] * kernel.ne[1];
  const taps = ops.reshape(f32(ops, kernel), [kk, 1, 1, C]);
  const y = ops.sumRows(ops.mul(cols, taps)); // [1, W', H', C·B]
  const [, W2, H2] = cols.ne;
  return ops.cont(ops.permute(ops.reshape(y, [W2, H2, C, B]), [1, 2, 0, 3])); // → [C, W', H', B]
}

/** Nearest upsampling by an integer factor of a channels-first map (REPEAT, differentiable). */
function upsampleNearest(ops: Ops, x: Tensor, f: number): Tensor {
  const [C, W, H, B] = x.ne;
  let y = ops.repeatTo(ops.reshape(x, [C, 1, W, H * B]), [C, f, W, H * B]); // x index f·i + r
  y = ops.reshape(y, [C * f * W, 1, H, B]);
  y = ops.repeatTo(y, [C * f * W, f, H, B]);
  return ops.reshape(y, [C, f * W, f * H, B]);
}

/** s×s average pooling of a channels-first map. */
function avgPool(ops: Ops, x: Tensor, s: number): Tensor {
  const [C, W, H, B] = x.ne;
  // along x: [C, s, W/s, H·B] → s first → sum
  let y = ops.cont(ops.permute(ops.reshape(x, [C, s, W / s, H * B]), [1, 0, 2, 3])); // [s, C, W/s, H·B]
  y = ops.sumRows(y); // [1, C, W/s, H·B]
  // along y: [C·W/s, s, H/s, B] → s first → sum
  y = ops.cont(ops.permute(ops.reshape(y, [C * (W / s), s, H / s, B]), [1, 0, 2, 3]));
  y = ops.sumRows(y);
  return ops.scale(ops.reshape(y, [C, W / s, H / s, B]), 1 / (s * s));
}

type Opt = (t: BlockTensor) => Tensor | null;
function accessors(w: VisionTensors, b: MobileNetV5Block): [(t: BlockTensor) => Tensor, Opt] {
  return [(t) => w.get(blockName(b, t)), (t) => (b.has.has(t) ? w.get(blockName(b, t)) : null)];
}

function edge(ops: Ops, w: VisionTensors, b: MobileNetV5Block, x: Tensor, stride: number, linear: LinearFn) {
  const [get, opt] = accessors(w, b);
  const kexp = get("convExp");
  if (kexp.ne[0] !== 3 || kexp.ne[1] !== 3) fail(`${b.prefix}: conv_exp must be 3×3, got ${kexp}`);
  const spatial = toSpatial(ops, x); // [W, H, C, B]
  let cur = ops.gelu(norm(ops, convKxK(ops, kexp, spatial, stride), opt("bn1")));
  cur = norm(ops, conv1x1(ops, blockName(b, "convPwl"), get("convPwl"), cur, linear), opt("bn2"));
  if (stride === 1 && x.ne[0] === cur.ne[0] && x.ne[1] === cur.ne[1]) cur = ops.add(cur, x);
  return cur;
}

function uir(ops: Ops, w: VisionTensors, b: MobileNetV5Block, x: Tensor, stride: number, linear: LinearFn) {
  const [, opt] = accessors(w, b);
  let cur = x;
  const dwStart = opt("dwStart");
  if (dwStart) cur = norm(ops, depthwise(ops, dwStart, cur, 1), opt("dwStartNorm"));
  const pwExp = opt("pwExp");
  if (pwExp)
    cur = ops.gelu(norm(ops, conv1x1(ops, blockName(b, "pwExp"), pwExp, cur, linear), opt("pwExpNorm")));
  const dwMid = opt("dwMid");
  if (dwMid) cur = ops.gelu(norm(ops, depthwise(ops, dwMid, cur, stride), opt("dwMidNorm")));
  const pwProj = opt("pwProj");
  if (pwProj) cur = norm(ops, conv1x1(ops, blockName(b, "pwProj"), pwProj, cur, linear), opt("pwProjNorm"));
  const ls = opt("layerScale");
  if (ls) cur = ops.mul(cur, ops.reshape(ls, [ls.nelements]));
  if (x.ne[0] === cur.ne[0] && x.ne[1] === cur.ne[1] && x.ne[2] === cur.ne[2]) cur = ops.add(cur, x);
  return cur;
}

function attention(ops: Ops, w: VisionTensors, b: MobileNetV5Block, x: Tensor, linear: LinearFn) {
  const [get, opt] = accessors(w, b);
  const cur = norm(ops, x, opt("attnNorm"));
  const [, W, H, B] = cur.ne;
  const q0 = conv1x1(ops, blockName(b, "attnQ"), get("attnQ"), cur, linear); // [D·nh, W, H, B]
  const kv = (down: Tensor | null, dn: Tensor | null, t: BlockTensor) => {
    let src = cur;
    if (down) src = norm(ops, depthwise(ops, down, cur, 2), dn);
    return conv1x1(ops, blockName(b, t), get(t), src, linear); // [D, Wk, Hk, B]
  };
  const k0 = kv(opt("attnKDown"), opt("attnKNorm"), "attnK");
  const v0 = kv(opt("attnVDown"), opt("attnVNorm"), "attnV");
  const D = k0.ne[0];
  if (v0.ne[0] !== D) fail(`${b.prefix}: key width ${D} and value width ${v0.ne[0]} differ`);
  if (q0.ne[0] % D !== 0) fail(`${b.prefix}: query width ${q0.ne[0]} is not a multiple of head size ${D}`);
  const nh = q0.ne[0] / D;
  const N = W * H;
  const M = k0.ne[1] * k0.ne[2];
  const q = ops.cont(ops.permute(ops.reshape(q0, [D, nh, N, B]), [0, 2, 1, 3])); // [D, N, nh, B]
  // one key/value head, repeated over the query heads (ggml differentiates broadcast matmuls only in 3-D)
  let k = ops.reshape(k0, [D, M, 1, B]);
  if (B > 1) k = ops.repeatTo(k, [D, M, nh, B]);
  const v = ops.cont(ops.permute(ops.reshape(v0, [D, M, 1, B]), [1, 0, 2, 3])); // [M, D, 1, B]
  const vr = B > 1 ? ops.repeatTo(v, [M, D, nh, B]) : v;
  const scores = ops.softMax(ops.scale(ops.mulMat(k, q), 1 / Math.sqrt(D)), null); // [M, N, nh, B]
  const o = ops.mulMat(vr, scores); // [D, N, nh, B]
  const merged = ops.reshape(ops.cont(ops.permute(o, [0, 2, 1, 3])), [D * nh, W, H, B]);
  let out = conv1x1(ops, blockName(b, "attnO"), get("attnO"), merged, linear);
  if (x.ne[0] === out.ne[0] && x.ne[1] === out.ne[1]) {
    const ls = opt("layerScale");
    if (ls) out = ops.mul(out, ops.reshape(ls, [ls.nelements]));
    out = ops.add(out, x);
  }
  return out;
}
