// Helpers of the model tests: llama.cpp reference logits in f32, log-softmax.
import { LoadedModel } from "../../lib/infer/model.js";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import type { Token } from "node-llama-cpp";

export function logSoftmax(x: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(x, (v) => v - lse);
}

/**
 * llama.cpp's logits for `tokens`, computed in f32 like tunekit's graph: f32 KV cache and no flash
 * attention. (node-llama-cpp's defaults — f16 cache, flash attention "auto", which on the CPU accumulates
 * V·softmax in f16 — move log-probs by 3e-3…1e-2 on these models, while tunekit's logits match an f64
 * evaluation written by hand to 2e-6.)
 */
export async function referenceLogits(
  path: string,
  vocab: number,
  tokens: number[],
): Promise<Float32Array[]> {
  const llama = await getLlamaCpp();
  const model = await llama.loadModel({ modelPath: path });
  try {
    const context = await model.createContext({
      contextSize: 64,
      sequences: 1,
      threads: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
    });
    const m = new LoadedModel(llama, model, context, context.getSequence(), {
      modelPath: path,
      fileBytes: 0,
      architecture: "",
      name: path,
      vocabSize: vocab,
      contextSize: context.contextSize,
      bosText: "",
      eosText: "",
    });
    return await m.exclusive(() => nextTokenLogits(m, tokens as Token[]));
  } finally {
    await model.dispose();
  }
}
