// The Gemma 3n text decoder (llama.cpp src/models/gemma3n.cpp, Hugging Face Gemma3nTextModel): per-layer
// embeddings, AltUp streams (predict → attention/FFN on the active stream → correct), Laurel low-rank residuals,
// gaussian top-k activation sparsity, keys/values shared by the last layers, local/global layers.
//
// Every op here has a ggml backward, so LoRA training works through the whole graph:
// - the AltUp streams are kept as separate [nEmbd, T·B] tensors instead of a stacked tensor (ggml cannot
//   differentiate CONCAT), so predict/correct are sums of per-token coefficient × stream products;
// - tanh and GELU are Ops' differentiable forms (inference graphs use ggml's fused GELU, like llama.cpp); the gaussian top-k cutoff is mean + k·std built from sums,
//   with k = icdf(target) a per-layer constant of the config (no erfinv in the graph);
// - magnitude ratios divide tensors of equal shape (ggml's DIV backward does not broadcast).
// Everything is computed in f32.
import type { Ops } from "../../engine/ops.js";
import type { Tensor } from "../../engine/tensor.js";
import { attendHeads } from "../attention.js";
import type { ModelConfig } from "../config.js";
import type { DecoderInputs, DecoderOutputs, LinearFn } from "../decoder.js";
import type { ModelWeights } from "../weights.js";
import { withSoftTokens } from "../soft-tokens.js";

/** Keys and values a layer attends to, [hd, nHeadKv, nKv, B]. */
interface LayerKv {
  k: Tensor;
  v: Tensor;
}

export function buildGemma3n(
  ops: Ops,
  c: ModelConfig,
  w: ModelWeights,
  inp: DecoderInputs,
  linear: LinearFn,
): DecoderOutputs {
  const g = c.gemma3n;
  if (!g) throw new Error("buildGemma3n: the config has no gemma3n section");
  const n = inp.seqLen * inp.batch;
  const E = c.nEmbd;
  const A = g.nAltup;
  const act = g.altupActive;
  const norm = (x: Tensor, name: string) => ops.mul(ops.rmsNorm(x, c.normEps), w.get(name));
  /** The attention/FFN projections go through the LoRA hook; AltUp, Laurel and per-layer ones do not. */
  const lin = (name: string, x: Tensor) => linear(ops, name, w.get(`${name}.weight`), x);
  const mm = (name: string, x: Tensor) => ops.mulMat(w.get(`${name}.weight`), x);
  /** Euclidean norm of each token's vector, [1, n]. */
  const gelu = (x: Tensor) => (inp.inference ? ops.geluInference(x) : ops.gelu(x));
  const magnitude = (x: Tensor) => ops.sqrt(ops.sumRows(ops.sqr(x)));
  /** Slice i of a [nEmbd, nEmbd, A−1] stack of projections. */
  const stackSlice = (t: Tensor, i: number) => ops.view(t, [t.ne[0], t.ne[1]], [t.nb[1]], i * t.nb[2]);
  /** Row r of a contiguous [n, rows] tensor as a [1, n] factor that broadcasts over a stream. */
  const tokenRow = (t: Tensor, r: number) => ops.view(t, [1, n], [t.nb[0]], r * t.nb[1]);

  // soft tokens (images) replace the scaled embedding; their per-layer inputs come from the token id the
  // caller puts in those columns (0, as llama.cpp's multimodal path uses the padding row)
  let x0 = withSoftTokens(
    ops,
    ops.scale(ops.getRows(w.get("token_embd.weight"), inp.tokens), Math.sqrt(E)),
    inp.softTokens,
  );
  if (inp.embeddingNoise) x0 = ops.add(x0, inp.embeddingNoise);
  const perLayer = perLayerInputs(ops, c, w, inp.tokens, x0, norm); // [P, n, L]

  // the other streams start as projections of the embedding, rescaled to its magnitude
  let streams: Tensor[] = [x0];
  const mag0 = magnitude(x0);
  for (let i = 0; i < A - 1; i++) {
    const p = ops.mulMat(stackSlice(w.get("altup_proj.weight"), i), x0);
    streams.push(ops.mul(p, ops.div(mag0, magnitude(p))));
  }

  /** tanh(W_router · rms_norm(x)/nEmbd): the per-token mixing signal of AltUp, [A, n]. */
  const router = (b: string, x: Tensor) =>
    ops.tanh(mm(`${b}.altup_router`, ops.scale(norm(x, `${b}.altup_router_norm.weight`), 1 / E)));

  const kvOf: LayerKv[] = [];
  for (let il = 0; il < c.nLayer; il++) {
    const b = `blk.${il}`;
    // AltUp predict: stream i ← stream i + Σ_j coef[j + A·i] · stream j (coefficients per token)
    const pc = ops.cont(ops.transpose(mm(`${b}.altup_predict_coef`, router(b, streams[act])))); // [n, A²]
    const pred = streams.map((s, i) => {
      let out = s;
      for (let j = 0; j < A; j++) out = ops.add(out, ops.mul(streams[j], tokenRow(pc, j + A * i)));
      return out;
    });
    const active = pred[act];

    const h = norm(active, `${b}.attn_norm.weight`);
    const laurel = ops.add(
      norm(mm(`${b}.laurel_r`, mm(`${b}.laurel_l`, h)), `${b}.laurel_post_norm.weight`),
      h,
    );
    const attn = ops.add(
      norm(attention(ops, c, w, inp, il, h, lin, kvOf), `${b}.post_attention_norm.weight`),
      active,
    );
    const attnLaurel = ops.scale(ops.add(attn, laurel), Math.SQRT1_2);

    const f = norm(attnLaurel, `${b}.ffn_norm.weight`);
    const up = lin(`${b}.ffn_up`, f);
    let gate = lin(`${b}.ffn_gate`, f);
    const k = g.sparsityStdMul[il];
    if (k !== null) gate = gaussianTopK(ops, gate, k);
    const ffn = norm(lin(`${b}.ffn_down`, ops.mul(up, gelu(gate))), `${b}.post_ffw_norm.weight`);
    const out = ops.add(ffn, attnLaurel);

    // AltUp correct: stream i ← prediction i + (coef_i + 1)·(out − active prediction)
    const innovation = ops.sub(out, active);
    const cc = ops.cont(ops.transpose(mm(`${b}.altup_correct_coef`, router(b, out)))); // [n, A]
    const corrected = pred.map((p, i) =>
      ops.add(ops.add(ops.mul(innovation, tokenRow(cc, i)), innovation), p),
    );

    // the per-layer embedding enters through a gated projection of the corrected active stream
    let gated = ops.mul(corrected[act], w.get(`${b}.altup_correct_scale.weight`));
    gated = gelu(mm(`${b}.inp_gate`, gated)); // [P, n]
    const P = g.perLayerDim;
    gated = ops.mul(gated, ops.view(perLayer, [P, n], [perLayer.nb[1]], il * perLayer.nb[2]));
    const fromPerLayer = norm(mm(`${b}.proj`, gated), `${b}.post_norm.weight`);
    streams = corrected.map((s, i) => (i === 0 ? s : ops.add(s, fromPerLayer)));
  }

  // merge the streams: project the others back, rescale to the active one's magnitude, average
  const target = magnitude(streams[act]);
  let x = streams[0];
  for (let i = 1; i < A; i++) {
    const u = ops.mulMat(stackSlice(w.get("altup_unembd_proj.weight"), i - 1), streams[i]);
    x = ops.add(x, ops.mul(u, ops.div(target, magnitude(u))));
  }
  x = ops.scale(x, 1 / A);

  if (inp.outputRows) x = ops.getRows(x, inp.outputRows);
  x = norm(x, "output_norm.weight");
  let logits = linear(ops, "output", w.output, x);
  if (c.finalSoftcap > 0) logits = ops.scale(ops.tanh(ops.scale(logits, 1 / c.finalSoftcap)), c.finalSoftcap);
  return { logits };
}

/**
 * Per-layer inputs [P, n, L]: the token's per-layer embedding (×√P) plus the RMS-normed projection of the
 * scaled main embedding (×1/√nEmbd), both ×1/√2 (llama.cpp project_per_layer_inputs).
 */
function perLayerInputs(
  ops: Ops,
  c: ModelConfig,
  w: ModelWeights,
  tokens: Tensor,
  x0: Tensor,
  norm: (x: Tensor, name: string) => Tensor,
): Tensor {
  const P = c.gemma3n!.perLayerDim;
  const L = c.nLayer;
  const n = x0.ne[1];
  // ggml's backward of a SCALE scales the gradient coming back into it, which must be contiguous, and the
  // gradient coming back through the PERMUTE is a permuted view: so no SCALE sits between the sources and the
  // permute. The ×√P is taken before the reshape (whose backward makes the gradient contiguous again) and the
  // ×1/√2 after the cont — the same products as scaling first, bit for bit. This is what lets gradients reach
  // the input embeddings (a vision tower trained with the model) and the per-layer weights (full fine-tuning).
  const emb = ops.reshape(
    ops.scale(ops.getRows(w.get("per_layer_token_embd.weight"), tokens), Math.sqrt(P)),
    [P, L, n],
  );
  const proj = ops.scale(ops.mulMat(w.get("per_layer_model_proj.weight"), x0), 1 / Math.sqrt(c.nEmbd));
  const both = ops.add(norm(ops.reshape(proj, [P, L, n]), "per_layer_proj_norm.weight"), emb);
  return ops.scale(ops.cont(ops.permute(both, [0, 2, 1, 3])), Math.SQRT1_2);
}

/**
 * Keeps the gate activations above mean + k·std of each token's row (the top (1 − target) of a gaussian):
 * relu(x − (mean + k·std)), std with Bessel's correction as llama.cpp and Hugging Face compute it.
 */
function gaussianTopK(ops: Ops, x: Tensor, k: number): Tensor {
  const mean = ops.mean(x); // [1, n]
  const centered = ops.sub(x, mean);
  const std = ops.sqrt(ops.scale(ops.sumRows(ops.sqr(centered)), 1 / (x.ne[0] - 1)));
  return ops.relu(ops.sub(x, ops.add(mean, ops.scale(std, k))));
}

/** Self-attention of layer il; layers without keys/values of their own attend to their source layer's. */
function attention(
  ops: Ops,
  c: ModelConfig,
  w: ModelWeights,
  inp: DecoderInputs,
  il: number,
  h: Tensor,
  lin: (name: string, x: Tensor) => Tensor,
  kvOf: LayerKv[],
): Tensor {
  const b = `blk.${il}`;
  const { headDim: hd, nHead, nHeadKv } = c;
  const T = inp.seqLen;
  const B = inp.batch;
  const n = T * B;
  const swa = c.swaLayers[il];
  const rope = {
    nDims: c.nRot,
    mode: c.ropeMode,
    freqBase: swa ? c.ropeBaseSwa : c.ropeBase,
    nCtxOrig: c.nCtxTrain,
  };
  let q = ops.reshape(lin(`${b}.attn_q`, h), [hd, nHead, n]);
  q = ops.rope(ops.mul(ops.rmsNorm(q, c.normEps), w.get(`${b}.attn_q_norm.weight`)), inp.positions, rope);

  const source = c.gemma3n!.kvSource[il];
  const nKv = inp.kv ? inp.kv.nKv : T;
  if (source === il) {
    let k = ops.reshape(lin(`${b}.attn_k`, h), [hd, nHeadKv, n]);
    k = ops.rope(ops.mul(ops.rmsNorm(k, c.normEps), w.get(`${b}.attn_k_norm.weight`)), inp.positions, rope);
    // values are RMS-normed without a weight
    const v = ops.rmsNorm(ops.reshape(lin(`${b}.attn_v`, h), [hd, nHeadKv, n]), c.normEps);
    if (inp.kv) {
      const kc = ops.setRows(inp.kv.k[il], ops.reshape(k, [hd * nHeadKv, n]), inp.kv.writeRows);
      const vc = ops.setRows(inp.kv.v[il], ops.reshape(v, [hd * nHeadKv, n]), inp.kv.writeRows);
      kvOf[il] = {
        k: ops.view(kc, [hd, nHeadKv, nKv, 1], [kc.nb[1] / nHeadKv, kc.nb[1]], 0),
        v: ops.view(vc, [hd, nHeadKv, nKv, 1], [vc.nb[1] / nHeadKv, vc.nb[1]], 0),
      };
    } else kvOf[il] = { k: ops.reshape(k, [hd, nHeadKv, T, B]), v: ops.reshape(v, [hd, nHeadKv, T, B]) };
  } else if (!kvOf[source])
    throw new Error(`gemma3n: layer ${il} reads keys/values of layer ${source} before it`);
  const mask = swa && inp.maskSwa ? inp.maskSwa : inp.mask;
  const merged = attendHeads(ops, {
    q: c.attnScale === 1 ? q : ops.scale(q, c.attnScale),
    k: kvOf[source].k,
    v: kvOf[source].v,
    nHead,
    nHeadKv,
    seqLen: T,
    batch: B,
    nKv,
    mask,
    softcap: c.attnSoftcap,
  });
  return lin(`${b}.attn_output`, merged);
}
