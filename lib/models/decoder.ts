// The forward graph shared by every supported decoder architecture, with the differences as flags from
// ModelConfig (as llama.cpp's src/models/{llama,qwen2,qwen3,gemma,gemma2,gemma3}.cpp define them).
// Token layout: B sequences of T tokens flattened to T·B columns; attention runs per sequence.
import { GgmlType } from "../gguf/ggml-types.js";
import type { Ops } from "../engine/ops.js";
import type { Tensor } from "../engine/tensor.js";
import type { ModelConfig } from "./config.js";
import type { ModelWeights } from "./weights.js";
import { buildGemma3n } from "./arch/gemma3n.js";
import { attendHeads } from "./attention.js";
import { withSoftTokens, type SoftTokenInputs } from "./soft-tokens.js";

export type { SoftTokenInputs };

/** y = W·x for the linear layer `name` ("blk.3.attn_q"); LoRA adapters replace this to add B·A·x. */
export type LinearFn = (ops: Ops, name: string, w: Tensor, x: Tensor) => Tensor;
export const plainLinear: LinearFn = (ops, _name, w, x) => ops.mulMat(w, x);

/** Per-layer key/value cache for incremental decoding (one sequence). */
export interface KvCacheView {
  /** Persistent caches [headDim·nHeadKv, nCtx] f32 per layer. */
  k: Tensor[];
  v: Tensor[];
  /** I32 [T] rows of the cache the new tokens go to. */
  writeRows: Tensor;
  /** Number of cache rows attention reads (past + new). */
  nKv: number;
}

export interface DecoderInputs {
  /** I32 [T·B] token ids. */
  tokens: Tensor;
  /** I32 [T·B] positions (RoPE). */
  positions: Tensor;
  /** F32 [nKv, T, 1, B] additive masks (0 or −∞): causal, and causal within the sliding window. */
  mask: Tensor;
  maskSwa?: Tensor;
  seqLen: number;
  batch: number;
  kv?: KvCacheView;
  /** I32 ids of the token columns whose logits are wanted (default all). */
  outputRows?: Tensor;
  /** Added to the token embeddings (NEFTune noise during training), f32 [nEmbd, T·B]. */
  embeddingNoise?: Tensor;
  /** Embeddings that replace the token embeddings at some columns (image soft tokens). */
  softTokens?: SoftTokenInputs;
  /**
   * No backward will be built: Gemma 3n then uses ggml's fused GELU (f16 table, as llama.cpp computes it)
   * instead of the differentiable form; the two differ by ~1e-3 relative, which Gemma 3n's AltUp amplifies.
   */
  inference?: boolean;
}

export interface DecoderOutputs {
  /** [nVocab, n] f32 logits. */
  logits: Tensor;
}

/** Graph nodes one block needs at most (forward), to size contexts: Gemma 3n's AltUp makes its blocks larger. */
export function nodesPerLayer(c: ModelConfig): number {
  return c.arch === "gemma3n" ? 240 + 16 * c.gemma3n!.nAltup ** 2 : 90;
}

export function buildDecoder(
  ops: Ops,
  c: ModelConfig,
  w: ModelWeights,
  inp: DecoderInputs,
  linear: LinearFn = plainLinear,
): DecoderOutputs {
  if (c.arch === "gemma3n") return buildGemma3n(ops, c, w, inp, linear);
  const norm = (x: Tensor, name: string) => ops.mul(ops.rmsNorm(x, c.normEps), w.get(name));
  const lin = (name: string, x: Tensor) => linear(ops, name, w.get(`${name}.weight`), x);

  let x = ops.getRows(w.get("token_embd.weight"), inp.tokens);
  if (c.embedScale !== 1) x = ops.scale(x, c.embedScale);
  x = withSoftTokens(ops, x, inp.softTokens);
  if (inp.embeddingNoise) x = ops.add(x, inp.embeddingNoise);

  for (let il = 0; il < c.nLayer; il++) {
    const b = `blk.${il}`;
    const swa = c.swaLayers[il];
    const h = norm(x, `${b}.attn_norm.weight`);
    let attn = attention(ops, c, w, inp, il, h, swa, lin);
    if (c.postNorms) attn = norm(attn, `${b}.post_attention_norm.weight`);
    const afterAttn = ops.add(attn, x);
    const f = norm(afterAttn, `${b}.ffn_norm.weight`);
    const gate = lin(`${b}.ffn_gate`, f);
    const up = lin(`${b}.ffn_up`, f);
    const act = c.ffnAct === "silu" ? ops.swiglu(gate, up) : ops.mul(ops.gelu(gate), up);
    let ffn = lin(`${b}.ffn_down`, act);
    if (c.postNorms) ffn = norm(ffn, `${b}.post_ffw_norm.weight`);
    x = ops.add(ffn, afterAttn);
  }

  if (inp.outputRows) x = ops.getRows(x, inp.outputRows);
  x = norm(x, "output_norm.weight");
  let logits = linear(ops, "output", w.output, x);
  if (c.finalSoftcap > 0) logits = ops.scale(ops.tanh(ops.scale(logits, 1 / c.finalSoftcap)), c.finalSoftcap);
  return { logits };
}

function attention(
  ops: Ops,
  c: ModelConfig,
  w: ModelWeights,
  inp: DecoderInputs,
  il: number,
  h: Tensor,
  swa: boolean,
  lin: (name: string, x: Tensor) => Tensor,
): Tensor {
  const b = `blk.${il}`;
  const { headDim: hd, nHead, nHeadKv } = c;
  const T = inp.seqLen;
  const B = inp.batch;
  const n = T * B;
  const withBias = (name: string, y: Tensor) =>
    w.has(`${name}.bias`) ? ops.add(y, w.get(`${name}.bias`)) : y;
  let q = ops.reshape(withBias(`${b}.attn_q`, lin(`${b}.attn_q`, h)), [hd, nHead, n]);
  let k = ops.reshape(withBias(`${b}.attn_k`, lin(`${b}.attn_k`, h)), [hd, nHeadKv, n]);
  let v = withBias(`${b}.attn_v`, lin(`${b}.attn_v`, h));
  if (c.qkNorm) {
    q = ops.mul(ops.rmsNorm(q, c.normEps), w.get(`${b}.attn_q_norm.weight`));
    k = ops.mul(ops.rmsNorm(k, c.normEps), w.get(`${b}.attn_k_norm.weight`));
  }
  const rope = {
    nDims: c.nRot,
    mode: c.ropeMode,
    freqBase: swa ? c.ropeBaseSwa : c.ropeBase,
    nCtxOrig: c.nCtxTrain,
    freqFactors: w.has("rope_freqs.weight") ? w.get("rope_freqs.weight") : undefined,
  };
  q = ops.rope(q, inp.positions, rope);
  k = ops.rope(k, inp.positions, rope);
  q = ops.scale(q, c.attnScale);

  let nKv = T;
  let kAll: Tensor;
  let vAll: Tensor;
  if (inp.kv) {
    // append this step's keys/values to the cache, then attend over the first nKv rows
    nKv = inp.kv.nKv;
    const kc = ops.setRows(inp.kv.k[il], ops.reshape(k, [hd * nHeadKv, n]), inp.kv.writeRows);
    const vc = ops.setRows(inp.kv.v[il], v, inp.kv.writeRows);
    kAll = ops.view(kc, [hd, nHeadKv, nKv, 1], [kc.nb[1] / nHeadKv, kc.nb[1]], 0);
    vAll = ops.view(vc, [hd, nHeadKv, nKv, 1], [vc.nb[1] / nHeadKv, vc.nb[1]], 0);
  } else {
    kAll = ops.reshape(k, [hd, nHeadKv, T, B]);
    vAll = ops.reshape(v, [hd, nHeadKv, T, B]);
  }
  const mask = swa && inp.maskSwa ? inp.maskSwa : inp.mask;
  const merged = attendHeads(ops, {
    q,
    k: kAll,
    v: vAll,
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

/** Additive attention mask [nKv, T, 1, B]: causal over positions, optionally within a sliding window, and
 * restricted to the same segment (packing) when segment ids are given. Columns of one bidirectional group
 * (the soft tokens of one image, for Gemma 3 — llama.cpp decodes them with causal attention off) also
 * see each other's later positions. */
export function attentionMask(o: {
  queryPos: Int32Array;
  keyPos: Int32Array;
  seqLen: number;
  batch: number;
  nKv: number;
  window?: number;
  querySegments?: Int32Array;
  keySegments?: Int32Array;
  /** Bidirectional groups per query/key column: equal non-zero ids attend both ways. */
  queryGroups?: Int32Array;
  keyGroups?: Int32Array;
}): Float32Array {
  const { seqLen: T, batch: B, nKv } = o;
  const m = new Float32Array(nKv * T * B).fill(-Infinity);
  for (let bi = 0; bi < B; bi++)
    for (let t = 0; t < T; t++) {
      const qi = bi * T + t;
      const qp = o.queryPos[qi];
      for (let j = 0; j < nKv; j++) {
        const ki = o.keyPos.length === nKv ? j : bi * nKv + j;
        const kp = o.keyPos[ki];
        if (kp > qp && !(o.queryGroups && o.keyGroups && o.queryGroups[qi] !== 0 && o.queryGroups[qi] === o.keyGroups[ki]))
          continue;
        if (o.window && qp - kp >= o.window) continue;
        if (o.querySegments && o.keySegments && o.querySegments[qi] !== o.keySegments[ki]) continue;
        m[(bi * T + t) * nKv + j] = 0;
      }
    }
  return m;
}

export const I32 = GgmlType.I32;
