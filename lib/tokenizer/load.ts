// Convenience: the tokenizer of a GGUF file on disk (through lib/gguf's reader).
import { openGguf } from "../gguf/read.js";
import { toPlain } from "../gguf/values.js";
import { tokenizerFromGgufMetadata } from "./from-gguf.js";
import type { LlamaTokenizer } from "./llama-tokenizer.js";

/** The tokenizer stored in a GGUF model file (reads only the header). */
export function loadGgufTokenizer(path: string): LlamaTokenizer {
  const file = openGguf(path);
  try {
    const meta: Record<string, unknown> = {};
    for (const [key, value] of file.metadata) {
      if (key.startsWith("tokenizer.") || key === "general.name") meta[key] = toPlain(value);
    }
    return tokenizerFromGgufMetadata(meta);
  } finally {
    file.close();
  }
}
