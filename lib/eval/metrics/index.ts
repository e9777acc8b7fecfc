// Evaluation metrics: one file per metric family, re-exported here.
export * from "./bleu.js";
export * from "./chrf.js";
export * from "./rouge.js";
export * from "./exact-match.js";
export * from "./perplexity.js";
export * from "./kl.js";
export * from "./latency.js";
export * from "./classification.js";
export * from "./function-calling.js";
export * from "./json-schema.js";
export * from "./syntax.js";
