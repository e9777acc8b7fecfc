// GGUF reading and writing, and the ggml tensor type table (see the files for details).
export * from "./ggml-types.js";
export { GgufValueType, gguf, ggufTypeName, toPlain, validateValue } from "./values.js";
export type { GgufArray, GgufArrayItems, GgufMetadataValue, GgufPlainValue } from "./values.js";
export { GGUF_DEFAULT_ALIGNMENT, parseGgufHeader } from "./parse.js";
export type { GgufHeader, GgufTensorInfo } from "./parse.js";
export { GgufFile, openGguf } from "./read.js";
export { writeGguf } from "./write.js";
export type { GgufTensorToWrite, WriteGgufOptions, WriteGgufResult } from "./write.js";
