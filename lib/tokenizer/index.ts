export type { DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";
export { tokenizerFromGgufMetadata, flattenGgufMetadata } from "./from-gguf.js";
export { LlamaTokenizer, partitionSpecial } from "./llama-tokenizer.js";
export { vocabFromMetadata, TokenType, Attr, type Vocab } from "./vocab.js";
export { preTokenize, preTokenizerFor, SUPPORTED_PRE_TOKENIZERS, type PreTokenizer } from "./pretokenize.js";
