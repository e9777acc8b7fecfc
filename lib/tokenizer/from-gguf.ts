// Build a tokenizer from GGUF metadata. Independent of any GGUF reader: pass the flat key -> value map
// (`tokenizer.ggml.tokens`, …); nested objects as node-llama-cpp's readGgufFileInfo returns them can be
// flattened with flattenGgufMetadata.
import { LlamaTokenizer } from "./llama-tokenizer.js";
import type { TokenizerMetadata } from "./metadata.js";
import { vocabFromMetadata } from "./vocab.js";

/**
 * A tokenizer equal to llama.cpp's for the vocabulary described by flat GGUF metadata keys:
 * `tokenizer.ggml.model` ("llama" = SentencePiece BPE, "gpt2" = byte-level BPE), `.tokens`, `.scores`,
 * `.token_type`, `.merges`, `.pre`, `.bos_token_id`, `.eos_token_id`, `.eot_token_id`,
 * `.padding_token_id`, `.add_bos_token`, `.add_eos_token`, `.add_space_prefix`, `tokenizer.chat_template`.
 * Throws InputError naming the key when a value is missing or malformed, or the model/pre-tokenizer is
 * one this module does not implement.
 */
export function tokenizerFromGgufMetadata(meta: TokenizerMetadata | Record<string, unknown>): LlamaTokenizer {
  return new LlamaTokenizer(vocabFromMetadata(meta));
}

/**
 * Flatten nested metadata ({tokenizer: {ggml: {tokens: […]}}}) to dotted keys
 * ({"tokenizer.ggml.tokens": […]}). Arrays, typed arrays and other non-plain values are leaves.
 */
export function flattenGgufMetadata(nested: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(nested)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (
      v !== null &&
      typeof v === "object" &&
      !Array.isArray(v) &&
      !ArrayBuffer.isView(v) &&
      Object.getPrototypeOf(v) === Object.prototype
    ) {
      Object.assign(out, flattenGgufMetadata(v as Record<string, unknown>, key));
    } else {
      out[key] = v;
    }
  }
  return out;
}
