// config.json and generation_config.json of a Hugging Face checkpoint for a GGUF model: the keys
// transformers' Llama/Qwen2/Qwen3/Gemma/Gemma2/Gemma3Text configs define, with the values llama.cpp runs
// the GGUF with (so transformers, tunekit's importer and convert_hf_to_gguf.py all read the same model).
import { InputError } from "../../util/errors.js";
import type { GgufFile } from "../../gguf/index.js";
import type { ModelConfig } from "../../models/config.js";
import { HF_EXPORT_CLASS, type HfExportArch } from "../../models/hf-names.js";
import { floatBytesToF32 } from "../../models/cast.js";
import { llama3RopeScalingOf } from "./llama3-rope.js";

type Json = Record<string, unknown>;

/** transformers' torch_dtype names. */
export const TORCH_DTYPE = { f32: "float32", f16: "float16", bf16: "bfloat16" } as const;

/** Options of {@link hfConfigJson}. */
export interface HfConfigOptions {
  arch: HfExportArch;
  config: ModelConfig;
  /** Whether lm_head.weight is written (false: tied to the embedding). */
  untiedOutput: boolean;
  dtype: keyof typeof TORCH_DTYPE;
  ids: { bos?: number; eos?: number; eot?: number; pad?: number };
  /** The GGUF, for rope-scaling keys and error messages. */
  file: GgufFile;
}

/** The shortest decimal that reads back as the same f32 (GGUF stores f32: 1e-5, not 0.000009999999747). */
function f32Decimal(x: number): number {
  for (let p = 1; p < 17; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

/**
 * rope_scaling of config.json: Llama 3's from a rope_freqs tensor (llama3-rope.ts), linear from the
 * rope.scaling.* keys, else null.
 */
function ropeScaling(f: GgufFile, c: ModelConfig): Json | null {
  const arch = c.arch;
  const freqs = f.tensor("rope_freqs.weight");
  if (freqs) {
    const values = floatBytesToF32(freqs.type, f.tensorData(freqs.name));
    const p = arch === "llama" ? llama3RopeScalingOf(values, c.ropeBase, c.nRot) : undefined;
    if (!p)
      throw new InputError(
        "the RoPE frequency factors (rope_freqs.weight) match no Llama 3 rope_scaling: no config.json can describe them",
        { file: f.path, field: "rope_freqs.weight" },
      );
    return { ...p };
  }
  const type = f.getString(`${arch}.rope.scaling.type`, "none");
  if (type === "none") return null;
  const factor = f.getNumber(`${arch}.rope.scaling.factor`, 0);
  if (type === "linear" && factor > 0) return { rope_type: "linear", factor: f32Decimal(factor) };
  throw new InputError(
    `rope scaling "${type}" has no Hugging Face form here (supported: none, linear); tunekit does not run it either`,
    { file: f.path, field: `${arch}.rope.scaling.type` },
  );
}

/** config.json; see {@link HfConfigOptions}. */
export function hfConfigJson(o: HfConfigOptions): Json {
  const c = o.config;
  const gemma = o.arch.startsWith("gemma");
  const common: Json = {
    architectures: [HF_EXPORT_CLASS[o.arch]],
    model_type: o.arch === "gemma3" ? "gemma3_text" : o.arch === "gemma3n" ? "gemma3n_text" : o.arch,
    vocab_size: c.nVocab,
    hidden_size: c.nEmbd,
    intermediate_size: c.nFf,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    num_key_value_heads: c.nHeadKv,
    head_dim: c.headDim,
    max_position_embeddings: c.nCtxTrain,
    rms_norm_eps: f32Decimal(c.normEps),
    rope_theta: f32Decimal(c.ropeBase),
    rope_scaling: ropeScaling(o.file, c),
    hidden_act: gemma ? "gelu_pytorch_tanh" : "silu",
    attention_bias: o.arch === "qwen2",
    attention_dropout: 0,
    initializer_range: 0.02,
    tie_word_embeddings: !o.untiedOutput,
    use_cache: true,
    torch_dtype: TORCH_DTYPE[o.dtype],
    ...(o.ids.bos !== undefined ? { bos_token_id: o.ids.bos } : {}),
    ...(o.ids.eos !== undefined ? { eos_token_id: o.ids.eos } : {}),
    ...(o.ids.pad !== undefined ? { pad_token_id: o.ids.pad } : {}),
  };
  if (c.nRot !== c.headDim)
    throw new InputError(`rotating ${c.nRot} of ${c.headDim} head dimensions has no config.json form here`, {
      file: o.file.path,
      field: `${c.arch}.rope.dimension_count`,
    });
  switch (o.arch) {
    case "llama":
      return { ...common, mlp_bias: false, pretraining_tp: 1 };
    case "qwen2":
    case "qwen3":
      return { ...common, use_sliding_window: false, sliding_window: null, max_window_layers: c.nLayer };
    case "gemma":
      return { ...common, hidden_activation: "gelu_pytorch_tanh" };
    case "gemma2":
      return {
        ...common,
        hidden_activation: "gelu_pytorch_tanh",
        query_pre_attn_scalar: queryPreAttnScalar(c),
        sliding_window: c.slidingWindow,
        attn_logit_softcapping: c.attnSoftcap ? f32Decimal(c.attnSoftcap) : null,
        final_logit_softcapping: c.finalSoftcap ? f32Decimal(c.finalSoftcap) : null,
        cache_implementation: "hybrid",
      };
    case "gemma3": {
      const pattern = swaPattern(c);
      return {
        ...common,
        hidden_activation: "gelu_pytorch_tanh",
        query_pre_attn_scalar: queryPreAttnScalar(c),
        sliding_window: c.slidingWindow,
        rope_local_base_freq: f32Decimal(c.ropeBaseSwa),
        sliding_window_pattern: pattern,
        layer_types: c.swaLayers.map((s) => (s ? "sliding_attention" : "full_attention")),
        attn_logit_softcapping: null,
        final_logit_softcapping: c.finalSoftcap ? f32Decimal(c.finalSoftcap) : null,
        cache_implementation: "hybrid",
      };
    }
    case "gemma3n": {
      const g = c.gemma3n!;
      const perLayer = o.file.tensor("per_layer_token_embd.weight");
      return {
        ...common,
        hidden_activation: "gelu_pytorch_tanh",
        vocab_size_per_layer_input: perLayer?.shape[1] ?? c.nVocab,
        hidden_size_per_layer_input: g.perLayerDim,
        sliding_window: c.slidingWindow,
        rope_local_base_freq: f32Decimal(c.ropeBaseSwa),
        layer_types: c.swaLayers.map((s) => (s ? "sliding_attention" : "full_attention")),
        final_logit_softcapping: c.finalSoftcap ? f32Decimal(c.finalSoftcap) : null,
        altup_active_idx: g.altupActive,
        altup_num_inputs: g.nAltup,
        // llama.cpp does not clamp the AltUp coefficients (its converter's TODO): neither may transformers
        altup_coef_clip: null,
        altup_correct_scale: true,
        laurel_rank: g.laurelRank,
        num_kv_shared_layers: g.kvSource.filter((s, il) => s !== il).length,
        // llama.cpp stores the gaussian top-k multiplier icdf(p); transformers wants the target p back
        activation_sparsity_pattern: g.sparsityStdMul.map((m) => (m === null ? 0 : sparsityTarget(m))),
      };
    }
  }
}

/** Φ(x), the standard normal CDF, from the series of erf (|x| ≤ 6; double precision). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  if (z > 6) return x > 0 ? 1 : 0;
  let term = z;
  let sum = z;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (-z * z) / n;
    sum += term / (2 * n + 1);
  }
  const erf = (2 / Math.sqrt(Math.PI)) * sum;
  return 0.5 * (1 + Math.sign(x) * erf);
}

/** The sparsity target p with icdf(p) = m, snapped to 4 decimals when that close (0.95 for 1.6448534). */
function sparsityTarget(m: number): number {
  const p = normalCdf(m);
  const r = Math.round(p * 1e4) / 1e4;
  return Math.abs(p - r) < 1e-6 ? r : p;
}

/**
 * transformers scales Gemma 2/3 queries by query_pre_attn_scalar^-½; llama.cpp (models/gemma2.cpp,
 * gemma3.cpp) by 1/√head_dim, except for the 27B shapes (46 resp. 62 layers): 1/√(n_embd / n_head).
 */
function queryPreAttnScalar(c: ModelConfig): number {
  const is27b = (c.arch === "gemma2" && c.nLayer === 46) || (c.arch === "gemma3" && c.nLayer === 62);
  return is27b ? Math.floor(c.nEmbd / c.nHead) : c.headDim;
}

/** The period of Gemma 3's local/global layer pattern (n−1 local layers, then a global one). */
function swaPattern(c: ModelConfig): number {
  const firstGlobal = c.swaLayers.indexOf(false);
  return firstGlobal < 0 ? c.nLayer : firstGlobal + 1;
}

/** generation_config.json: the special ids generation uses (EOS and, when distinct, end of turn). */
export function hfGenerationConfig(ids: HfConfigOptions["ids"]): Json {
  const eos = [ids.eos, ids.eot].filter((x, i, a): x is number => x !== undefined && a.indexOf(x) === i);
  return {
    _from_model_config: true,
    ...(ids.bos !== undefined ? { bos_token_id: ids.bos } : {}),
    ...(eos.length ? { eos_token_id: eos.length === 1 ? eos[0] : eos } : {}),
    ...(ids.pad !== undefined ? { pad_token_id: ids.pad } : {}),
  };
}
