// node-llama-cpp's module namespace for the few classes that are not reachable from the Llama instance
// (LlamaGrammarEvaluationState). Loaded with a real dynamic import for the same reason as getLlamaCpp():
// the package is ESM with top-level await.
type NodeLlamaCpp = typeof import("node-llama-cpp");

let modulePromise: Promise<NodeLlamaCpp> | undefined;

/** The node-llama-cpp module, imported once. */
export function nodeLlamaCppModule(): Promise<NodeLlamaCpp> {
  modulePromise ??= import("node-llama-cpp");
  return modulePromise;
}
