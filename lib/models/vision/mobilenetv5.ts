// Gemma 3n's MobileNet-V5 image encoder on ggml, as llama.cpp's tools/mtmd/models/mobilenetv5.cpp builds it:
// SAME-padded stride-2 stem → stages of edge-residual, universal-inverted-residual and multi-query-attention
// blocks (every conv followed by an RMS norm over channels, GELU after expansions) → multi-scale fusion adapter
// (end of stage 2 and stage 3, nearest upsampling, concat, 1×1 expand/project, avg-pool to 16×16, norm).
//
// Inference only (what llama.cpp computes, bit for bit): ggml has no backward for CONV_2D, PAD, UPSCALE, CONCAT
// or GELU; training uses the same computation built from differentiable ops (mobilenetv5-trainable.ts). Every
// op goes through engine/ops.ts, which checks shapes and types before ggml sees them; the few things those
// checks cannot know (fusion divisibility, head count) are checked here.
import { EngineError } from "../../util/errors.js";
import type { Ops } from "../../engine/ops.js";
import type { Tensor } from "../../engine/tensor.js";
import {
  MNV5,
  MNV5_EPS,
  MSFA_OUTPUT_SIDE,
  blockName,
  type BlockTensor,
  type MobileNetV5Block,
  type MobileNetV5Config,
} from "./mobilenetv5-config.js";

/** Named weight lookup (the mmproj's tensors). */
export interface VisionTensors {
  get(name: string): Tensor;
  has(name: string): boolean;
}

export interface MobileNetV5Inputs {
  /** F32 [imageSize, imageSize, 3, B] graph input: planar preprocessed pixels (x + S·y + S²·c). */
  pixels: Tensor;
}

const fail = (msg: string): never => {
  throw new EngineError(`mobilenetv5: ${msg}`);
};

/** The encoder's feature maps before the projector: F32 [W, H, nEmbd, B] (16×16 for Gemma 3n). */
export function buildMobileNetV5(
  ops: Ops,
  c: MobileNetV5Config,
  w: VisionTensors,
  inp: MobileNetV5Inputs,
): Tensor {
  const x = inp.pixels;
  if (x.ne[0] !== c.imageSize || x.ne[1] !== c.imageSize || x.ne[2] !== 3)
    fail(`pixels ${x} must be [${c.imageSize}, ${c.imageSize}, 3, B]`);
  const opt = (name: string) => (w.has(name) ? w.get(name) : null);

  // 1. stem: Conv2dSame(3 → C, k3, s2) (+ bias) → norm → GELU
  let cur = ops.conv2d(w.get(MNV5.stemConv), padSame(ops, x, 3, 2), { stride: [2, 2] });
  const stemBias = opt(MNV5.stemBias);
  if (stemBias) cur = ops.add(cur, stemBias);
  cur = ops.geluInference(rmsNorm2d(ops, cur, opt(MNV5.stemNorm)));

  // 2. blocks; the first block of each stage downsamples; features kept at the end of stages 2 and 3
  const blocks = c.stages.flat();
  const stageEnds: number[] = [];
  for (const s of c.stages) stageEnds.push((stageEnds.at(-1) ?? -1) + s.length);
  const isStageStart = (i: number) => i === 0 || stageEnds.some((e) => i === e + 1);
  const isFusionPoint = (i: number) =>
    stageEnds.length >= 4 ? i === stageEnds[2] || i === stageEnds[3] : i === blocks.length - 1;
  const features: Tensor[] = [];
  blocks.forEach((b, i) => {
    const stride = isStageStart(i) ? 2 : 1;
    if (b.kind === "edge") cur = edgeResidual(ops, w, b, cur, stride);
    else if (b.kind === "mqa") cur = attention(ops, w, b, cur);
    else cur = invertedResidual(ops, w, b, cur, stride);
    if (isFusionPoint(i)) features.push(cur);
  });

  // 3. multi-scale fusion adapter at the first fusion point's resolution
  const [hw, hh] = features[0].ne;
  const resized = features.map((f) => {
    if (f.ne[0] >= hw && f.ne[1] >= hh) return f;
    if (hw % f.ne[0] !== 0) fail(`cannot upsample a ${f.ne[0]}-wide map to ${hw}`);
    return ops.upscaleNearest(f, hw / f.ne[0]);
  });
  cur = resized.reduce((a, b) => ops.concat(a, b, 2));
  const exp = opt(MNV5.msfaExp);
  if (exp) cur = ops.geluInference(rmsNorm2d(ops, ops.conv2d(exp, cur), opt(MNV5.msfaExpNorm)));
  const proj = opt(MNV5.msfaProj);
  if (proj) cur = rmsNorm2d(ops, ops.conv2d(proj, cur), opt(MNV5.msfaProjNorm));
  const side = cur.ne[0];
  if (side > MSFA_OUTPUT_SIDE) {
    if (side % MSFA_OUTPUT_SIDE !== 0) fail(`a ${side}-wide fused map does not pool to ${MSFA_OUTPUT_SIDE}`);
    const s = side / MSFA_OUTPUT_SIDE;
    cur = ops.pool2d(cur, "avg", [s, s], [s, s]);
  }
  cur = rmsNorm2d(ops, cur, opt(MNV5.msfaNorm));
  if (cur.ne[2] !== c.nEmbd) fail(`the encoder gives ${cur.ne[2]} channels, embedding_length is ${c.nEmbd}`);
  return cur;
}

/** RMS norm over channels at each position: [W, H, C, B] → permute → rms_norm → × weight → back. */
function rmsNorm2d(ops: Ops, x: Tensor, weight: Tensor | null, eps = MNV5_EPS): Tensor {
  let cur = ops.rmsNorm(ops.cont(ops.permute(x, [2, 1, 0, 3])), eps);
  if (weight) cur = ops.mul(cur, weight);
  return ops.cont(ops.permute(cur, [2, 1, 0, 3]));
}

/** TF/PyTorch "SAME" padding for a k×k window with stride s: asymmetric, the extra pixel right/bottom. */
function padSame(ops: Ops, x: Tensor, k: number, s: number): Tensor {
  const [iw, ih] = x.ne;
  const pad = (n: number) => Math.max(0, (Math.ceil(n / s) - 1) * s + (k - 1) + 1 - n);
  const pw = pad(iw);
  const ph = pad(ih);
  if (pw === 0 && ph === 0) return x;
  const l = Math.floor(pw / 2);
  const t = Math.floor(ph / 2);
  return ops.padExt(x, [l, pw - l, t, ph - t, 0, 0, 0, 0]);
}

type Get = (t: BlockTensor) => Tensor;
type Opt = (t: BlockTensor) => Tensor | null;
function accessors(w: VisionTensors, b: MobileNetV5Block): [Get, Opt] {
  return [(t) => w.get(blockName(b, t)), (t) => (b.has.has(t) ? w.get(blockName(b, t)) : null)];
}

/** Depthwise conv with a k×k kernel: symmetric k/2 padding at stride 1, SAME padding at stride 2. */
function depthwise(ops: Ops, kernel: Tensor, x: Tensor, stride: number): Tensor {
  const k = kernel.ne[0];
  if (stride > 1)
    return ops.conv2dDepthwise(kernel, padSame(ops, x, k, stride), { stride: [stride, stride] });
  const p = Math.floor(k / 2);
  return ops.conv2dDepthwise(kernel, x, { padding: [p, p] });
}

/** Stage 0: 3×3 expansion conv → norm → GELU → 1×1 linear conv → norm (+ input when shapes allow). */
function edgeResidual(ops: Ops, w: VisionTensors, b: MobileNetV5Block, x: Tensor, stride: number): Tensor {
  const [get, opt] = accessors(w, b);
  const kexp = get("convExp");
  // llama.cpp pads as for a 3×3 kernel whatever the kernel size
  if (kexp.ne[0] !== 3 || kexp.ne[1] !== 3) fail(`${b.prefix}: conv_exp must be 3×3, got ${kexp}`);
  let cur =
    stride === 2
      ? ops.conv2d(kexp, padSame(ops, x, 3, 2), { stride: [2, 2] })
      : ops.conv2d(kexp, x, { stride: [stride, stride], padding: [1, 1] });
  cur = ops.geluInference(rmsNorm2d(ops, cur, opt("bn1")));
  cur = rmsNorm2d(ops, ops.conv2d(get("convPwl"), cur), opt("bn2"));
  if (stride === 1 && x.ne[2] === cur.ne[2] && x.ne[0] === cur.ne[0]) cur = ops.add(cur, x);
  return cur;
}

/** [depthwise start] → [1×1 expand, GELU] → [depthwise mid (the stride), GELU] → [1×1 project] → layer scale. */
function invertedResidual(
  ops: Ops,
  w: VisionTensors,
  b: MobileNetV5Block,
  x: Tensor,
  stride: number,
): Tensor {
  const [, opt] = accessors(w, b);
  let cur = x;
  const dwStart = opt("dwStart");
  if (dwStart) cur = rmsNorm2d(ops, depthwise(ops, dwStart, cur, 1), opt("dwStartNorm"));
  const pwExp = opt("pwExp");
  if (pwExp) cur = ops.geluInference(rmsNorm2d(ops, ops.conv2d(pwExp, cur), opt("pwExpNorm")));
  const dwMid = opt("dwMid");
  if (dwMid) cur = ops.geluInference(rmsNorm2d(ops, depthwise(ops, dwMid, cur, stride), opt("dwMidNorm")));
  const pwProj = opt("pwProj");
  if (pwProj) cur = rmsNorm2d(ops, ops.conv2d(pwProj, cur), opt("pwProjNorm"));
  const ls = opt("layerScale");
  if (ls) cur = ops.mul(cur, ls);
  if (x.ne[0] === cur.ne[0] && x.ne[1] === cur.ne[1] && x.ne[2] === cur.ne[2]) cur = ops.add(cur, x);
  return cur;
}

/** Multi-query attention over positions: n_head query heads, one key/value head on a 2× downsampled map. */
function attention(ops: Ops, w: VisionTensors, b: MobileNetV5Block, x: Tensor): Tensor {
  const [get, opt] = accessors(w, b);
  const norm = opt("attnNorm");
  const cur = norm ? rmsNorm2d(ops, x, norm) : x;
  const q0 = ops.conv2d(get("attnQ"), cur);
  const kv = (down: Tensor | null, downNorm: Tensor | null, proj: Tensor) => {
    let t = cur;
    if (down) {
      t = ops.conv2dDepthwise(down, padSame(ops, cur, down.ne[0], 2), { stride: [2, 2] });
      if (downNorm) t = rmsNorm2d(ops, t, downNorm);
    }
    return ops.conv2d(proj, t);
  };
  const k0 = kv(opt("attnKDown"), opt("attnKNorm"), get("attnK"));
  const v0 = kv(opt("attnVDown"), opt("attnVNorm"), get("attnV"));
  const [W, H, , B] = cur.ne;
  const D = k0.ne[2];
  if (v0.ne[2] !== D) fail(`${b.prefix}: key width ${D} and value width ${v0.ne[2]} differ`);
  if (q0.ne[2] % D !== 0) fail(`${b.prefix}: query width ${q0.ne[2]} is not a multiple of head size ${D}`);
  const nHead = q0.ne[2] / D;
  const N = W * H;
  const M = k0.ne[0] * k0.ne[1];
  const q = ops.cont(ops.permute(ops.reshape(q0, [N, D, nHead, B]), [1, 0, 2, 3])); // [D, N, nHead, B]
  const k = ops.cont(ops.permute(ops.reshape(k0, [M, D, 1, B]), [1, 0, 2, 3])); // [D, M, 1, B]
  const v = ops.reshape(v0, [M, D, 1, B]); // [M, D, 1, B]
  const scores = ops.softMax(ops.scale(ops.mulMat(k, q), 1 / Math.sqrt(D)), null); // [M, N, nHead, B]
  let o = ops.mulMat(v, scores); // [D, N, nHead, B]
  o = ops.reshape(ops.cont(ops.permute(o, [1, 0, 2, 3])), [W, H, D * nHead, B]);
  let out = ops.conv2d(get("attnO"), o);
  if (x.ne[0] === out.ne[0] && x.ne[2] === out.ne[2]) {
    const ls = opt("layerScale");
    if (ls) out = ops.mul(out, ls);
    out = ops.add(out, x);
  }
  return out;
}
