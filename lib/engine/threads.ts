// One thread policy for token-by-token decoding, shared by tunekit's engine (lib/models/session.ts) and
// llama.cpp through node-llama-cpp (lib/infer/model.ts).

/**
 * Below this many bytes of weights, one decoded token is too little work to split across threads: the
 * thread barrier costs more than the step, and far more on a busy machine (measured on 2 cores under load:
 * stories260K decoded 434 tokens/s on 1 thread against 12 on 2; the 3.3 MiB default model ~500 against ~2
 * in llama.cpp).
 */
export const SMALL_MODEL_BYTES = 32 << 20;

/**
 * Threads for single-token decoding of a model whose weights take `weightBytes`: 1 for small models,
 * undefined (the engine's default: TUNEKIT_THREADS or all cores) otherwise. An explicit TUNEKIT_THREADS wins.
 */
export function decodeThreads(weightBytes: number): number | undefined {
  if (Number(process.env.TUNEKIT_THREADS) > 0) return undefined;
  return weightBytes < SMALL_MODEL_BYTES ? 1 : undefined;
}
