// The GGUF tokenizer keys tunekit produces when it converts a tokenizer (SentencePiece, llama2.c, Hugging
// Face), and their GGUF value types for writing them with lib/gguf.
import { gguf, type GgufMetadataValue } from "../gguf/values.js";

/** Tokenizer metadata with GGUF key names, as llama.cpp's converters write them. */
export interface TokenizerMetadata {
  /** "llama" (SentencePiece BPE with scores) or "gpt2" (byte-level BPE with merges). */
  "tokenizer.ggml.model": string;
  /** Pre-tokenizer name for "gpt2" vocabularies ("llama-bpe", "qwen2", "smollm", …; "default" for SPM). */
  "tokenizer.ggml.pre"?: string;
  "tokenizer.ggml.tokens": string[];
  /** Piece scores (SPM merge priority; higher merges first). */
  "tokenizer.ggml.scores"?: number[];
  /** TokenType per token (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). */
  "tokenizer.ggml.token_type"?: number[];
  /** BPE merges "left right", highest priority first. */
  "tokenizer.ggml.merges"?: string[];
  "tokenizer.ggml.bos_token_id"?: number;
  "tokenizer.ggml.eos_token_id"?: number;
  "tokenizer.ggml.eot_token_id"?: number;
  "tokenizer.ggml.eom_token_id"?: number;
  "tokenizer.ggml.unknown_token_id"?: number;
  "tokenizer.ggml.seperator_token_id"?: number;
  "tokenizer.ggml.padding_token_id"?: number;
  "tokenizer.ggml.cls_token_id"?: number;
  "tokenizer.ggml.mask_token_id"?: number;
  "tokenizer.ggml.add_bos_token"?: boolean;
  "tokenizer.ggml.add_eos_token"?: boolean;
  "tokenizer.ggml.add_sep_token"?: boolean;
  "tokenizer.ggml.add_space_prefix"?: boolean;
  "tokenizer.ggml.remove_extra_whitespaces"?: boolean;
  /** The default chat template; named alternatives go to `tokenizer.chat_template.<name>`. */
  "tokenizer.chat_template"?: string;
  [key: `tokenizer.chat_template.${string}`]: string | undefined;
}

const ID_KEYS = new Set([
  "bos_token_id",
  "eos_token_id",
  "eot_token_id",
  "eom_token_id",
  "unknown_token_id",
  "seperator_token_id",
  "padding_token_id",
  "cls_token_id",
  "mask_token_id",
  "prefix_token_id",
  "suffix_token_id",
  "middle_token_id",
  "fim_pre_token_id",
  "fim_suf_token_id",
  "fim_mid_token_id",
  "fim_pad_token_id",
  "fim_rep_token_id",
  "fim_sep_token_id",
]);

/**
 * Typed GGUF values for tokenizer metadata (string arrays, f32 scores, i32 token types, u32 ids, bools,
 * strings), in the key order of `meta`, ready for `writeGguf({ metadata })`. Undefined entries are skipped.
 */
export function tokenizerMetadataToGguf(
  meta: TokenizerMetadata | Record<string, unknown>,
): Map<string, GgufMetadataValue> {
  const out = new Map<string, GgufMetadataValue>();
  for (const [key, value] of Object.entries(meta)) {
    if (value === undefined) continue;
    const short = key.startsWith("tokenizer.ggml.") ? key.slice("tokenizer.ggml.".length) : "";
    if (short === "tokens" || short === "merges") out.set(key, gguf.arr("str", value as string[]));
    else if (short === "scores") out.set(key, gguf.arr("f32", value as ArrayLike<number>));
    else if (short === "token_type") out.set(key, gguf.arr("i32", value as ArrayLike<number>));
    else if (ID_KEYS.has(short)) out.set(key, gguf.u32(value as number));
    else if (typeof value === "boolean") out.set(key, gguf.bool(value));
    else if (typeof value === "string") out.set(key, gguf.str(value));
    else throw new TypeError(`tokenizerMetadataToGguf: no GGUF type known for "${key}"`);
  }
  return out;
}
