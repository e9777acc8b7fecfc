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

/** The architectures with a Hugging Face mapping. */
export type HfArch = keyof typeof HF_CLASS;

export function isHfArch(a: string): a is HfArch {
  return Object.prototype.hasOwnProperty.call(HF_CLASS, a);
}

const TOP_LEVEL: Record<string, string> = {
  "model.embed_tokens.weight": "token_embd.weight",
  "model.norm.weight": "output_norm.weight",
  "lm_head.weight": "output.weight",
};

/** HF module of a decoder block → GGUF block tensor, per architecture (Gemma 2/3 have four norms). */
function blockTable(arch: Arch): Record<string, string> {
  const gemma23 = arch === "gemma2" || arch === "gemma3";
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
  for (const [hf, g] of Object.entries(TOP_LEVEL)) if (g === name) return hf;
  const m = /^blk\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const hf = Object.entries(blockTable(arch)).find(([, g]) => g === m[2])?.[0];
  return hf && `model.layers.${m[1]}.${hf}.${m[3]}`;
}
