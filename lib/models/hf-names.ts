// Hugging Face transformers ↔ llama.cpp tensor names of the architectures tunekit converts both ways
// (llama, qwen2, qwen3, gemma, gemma2, gemma3), as convert_hf_to_gguf.py / gguf-py's tensor map name them.
// One table for the importer (convert-hf.ts) and the exporter (lib/export/hf-checkpoint.ts).
import type { Arch } from "./config.js";

/** Hugging Face class (config.json `architectures[0]`) of each architecture. */
export const HF_CLASS = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
  gemma: "GemmaForCausalLM",
  gemma2: "Gemma2ForCausalLM",
  gemma3: "Gemma3ForCausalLM",
} as const satisfies Partial<Record<Arch, string>>;

/** The architectures with a Hugging Face mapping both ways. */
export type HfArch = keyof typeof HF_CLASS;

export function isHfArch(a: string): a is HfArch {
  return Object.prototype.hasOwnProperty.call(HF_CLASS, a);
}

/** Classes the exporter writes: the importer's, and Gemma 3n's text model (export only). */
export const HF_EXPORT_CLASS = { ...HF_CLASS, gemma3n: "Gemma3nForCausalLM" } as const;
export type HfExportArch = keyof typeof HF_EXPORT_CLASS;

export function isHfExportArch(a: string): a is HfExportArch {
  return Object.prototype.hasOwnProperty.call(HF_EXPORT_CLASS, a);
}

/**
 * Gemma 3n tensors llama.cpp's converter stacks from several HF matrices (torch.stack on dim 0): GGUF name
 * → HF name prefix; part k is "<prefix>.<k>.weight".
 */
export const HF_STACKED: Record<string, string> = {
  "altup_proj.weight": "model.altup_projections",
  "altup_unembd_proj.weight": "model.altup_unembed_projections",
};

/** Gemma 3n's model-level tensors beyond the common ones (gguf-py tensor_mapping). */
const GEMMA3N_TOP_LEVEL: Record<string, string> = {
  "model.embed_tokens_per_layer.weight": "per_layer_token_embd.weight",
  "model.per_layer_model_projection.weight": "per_layer_model_proj.weight",
  "model.per_layer_projection_norm.weight": "per_layer_proj_norm.weight",
};

/** Gemma 3n's per-layer modules beyond Gemma 3's. */
const GEMMA3N_BLOCK: Record<string, string> = {
  per_layer_input_gate: "inp_gate",
  per_layer_projection: "proj",
  post_per_layer_input_norm: "post_norm",
  "altup.correction_coefs": "altup_correct_coef",
  // a bare parameter in transformers (no ".weight"); the converter appends ".weight" to names ending in "_scale"
  "altup.correct_output_scale": "altup_correct_scale",
  "altup.prediction_coefs": "altup_predict_coef",
  "altup.modality_router": "altup_router",
  "altup.router_norm": "altup_router_norm",
  "laurel.linear_left": "laurel_l",
  "laurel.linear_right": "laurel_r",
  "laurel.post_laurel_norm": "laurel_post_norm",
};

const TOP_LEVEL: Record<string, string> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "model.norm.weight": "output_norm.weight",
  "lm_head.weight": "output.weight",
};

/** HF module of a decoder block → GGUF block tensor, per architecture (Gemma 2/3 have four norms). */
function blockTable(arch: Arch): Record<string, string> {
  const gemma23 = arch === "gemma2" || arch === "gemma3" || arch === "gemma3n";
  return {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    input_layernorm: "attn_norm",
    // Llama/Qwen/Gemma: the norm before the FFN is called post_attention_layernorm in HF; Gemma 2/3 have a
    // real post-attention norm of that name and call the pre-FFN one pre_feedforward_layernorm
    post_attention_layernorm: gemma23 ? "post_attention_norm" : "ffn_norm",
    ...(gemma23
      ? { pre_feedforward_layernorm: "ffn_norm", post_feedforward_layernorm: "post_ffw_norm" }
      : {}),
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    ...(arch === "gemma3n" ? GEMMA3N_BLOCK : {}),
  };
}

/** GGUF name of an HF tensor name (undefined: not used, e.g. rotary inv_freq buffers). */
export function ggufNameOfHf(hf: string, arch: Arch): string | undefined {
  if (TOP_LEVEL[hf]) return TOP_LEVEL[hf];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  if (!m) return undefined;
  const n = blockTable(arch)[m[2]];
  return n && `blk.${m[1]}.${n}.${m[3]}`;
}

/** HF name of a GGUF tensor name (undefined: no HF counterpart, e.g. rope_freqs). */
export function hfNameOfGguf(name: string, arch: Arch): string | undefined {
  const top = arch === "gemma3n" ? { ...TOP_LEVEL, ...GEMMA3N_TOP_LEVEL } : TOP_LEVEL;
  for (const [hf, g] of Object.entries(top)) if (g === name) return hf;
  const m = /^blk\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const hf = Object.entries(blockTable(arch)).find(([, g]) => g === m[2])?.[0];
  if (!hf) return undefined;
  return hf === "altup.correct_output_scale"
    ? `model.layers.${m[1]}.${hf}`
    : `model.layers.${m[1]}.${hf}.${m[3]}`;
}
