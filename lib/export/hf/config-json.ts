// config.json and generation_config.json of a Hugging Face checkpoint for a GGUF model: the keys
// transformers' Llama/Qwen2/Qwen3/Gemma/Gemma2/Gemma3Text configs define, with the values llama.cpp runs
// the GGUF with (so transformers, tunekit's importer and convert_hf_to_gguf.py all read the same model).
import { InputError } from "../../util/errors.js";
import type { GgufFile } from "../../gguf/index.js";
import type { ModelConfig } from "../../models/config.js";
import { HF_CLASS, type HfArch } from "../../models/hf-names.js";

type Json = Record<string, unknown>;

/** transformers' torch_dtype names. */
export const TORCH_DTYPE = { f32: "float32", f16: "float16", bf16: "bfloat16" } as const;

/** Options of {@link hfConfigJson}. */
export interface HfConfigOptions {
  arch: HfArch;
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

/** rope_scaling of config.json from the GGUF's rope.scaling.* keys (linear only; none → null). */
function ropeScaling(f: GgufFile, arch: string): Json | null {
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
    architectures: [HF_CLASS[o.arch]],
    model_type: o.arch === "gemma3" ? "gemma3_text" : o.arch,
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
    rope_scaling: ropeScaling(o.file, c.arch),
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
        // llama.cpp scales Q by 1/√head_dim (the 2B/9B rule); transformers by query_pre_attn_scalar^-½
        query_pre_attn_scalar: c.headDim,
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
        query_pre_attn_scalar: c.headDim,
        sliding_window: c.slidingWindow,
        rope_local_base_freq: f32Decimal(c.ropeBaseSwa),
        sliding_window_pattern: pattern,
        layer_types: c.swaLayers.map((s) => (s ? "sliding_attention" : "full_attention")),
        attn_logit_softcapping: null,
        final_logit_softcapping: c.finalSoftcap ? f32Decimal(c.finalSoftcap) : null,
        cache_implementation: "hybrid",
      };
    }
  }
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
