export type { DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";
export { tokenizerFromGgufMetadata, flattenGgufMetadata } from "./from-gguf.js";
export { loadGgufTokenizer } from "./load.js";
export { LlamaTokenizer, partitionSpecial } from "./llama-tokenizer.js";
export { vocabFromMetadata, TokenType, Attr, type Vocab } from "./vocab.js";
export { preTokenize, preTokenizerFor, SUPPORTED_PRE_TOKENIZERS, type PreTokenizer } from "./pretokenize.js";
export { tokenizerMetadataToGguf, type TokenizerMetadata } from "./metadata.js";
export {
  sentencepieceModelToGgufMetadata,
  llama2cTokenizerToGgufMetadata,
  parseSentencePieceModel,
  type SentencePieceModel,
  type SentencePieceConversionOptions,
} from "./sentencepiece.js";
export {
  hfTokenizerToGgufMetadata,
  detectPreTokenizer,
  looksSpecial,
  type HfConversionOptions,
} from "./hf.js";
export { hfDirTokenizerToGgufMetadata } from "./hf-dir.js";
export {
  trainByteLevelBpe,
  byteLevelBpeMetadata,
  type TrainedBpe,
  type TrainBpeOptions,
  type ByteLevelBpeMetadataOptions,
} from "./train-bpe.js";
