// Text generation with tunekit's own engine: greedy, temperature, top-k and top-p sampling with a seed.
import type { LinearFn } from "./decoder.js";
import type { Model } from "./model.js";
import { Session } from "./session.js";
import { SeededRandom } from "../data/random.js";

export interface GenerateOptions {
  /** Maximum new tokens. Default 64. */
  maxTokens?: number;
  /** 0 = greedy (default). */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set whose probability reaches p (1 = all). */
  topP?: number;
  seed?: number;
  /** Add BOS before the prompt when the model wants it. Default true. */
  addBos?: boolean;
  /** Linear hook (LoRA adapters). */
  linear?: LinearFn;
}

export interface GenerateResult {
  text: string;
  tokens: number[];
  promptTokens: number;
  stopReason: "eos" | "max-tokens" | "context";
  tokensPerSecond: number;
}

/** Picks the next token from logits. */
export function sample(logits: Float32Array, o: GenerateOptions, rand: () => number): number {
  const temp = o.temperature ?? 0;
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temp <= 0) return best;
  let ids = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (o.topK && o.topK > 0) ids = ids.slice(0, o.topK);
  const max = logits[ids[0]];
  let probs = ids.map((i) => Math.exp((logits[i] - max) / temp));
  let sum = probs.reduce((s, p) => s + p, 0);
  const topP = o.topP ?? 1;
  if (topP < 1) {
    let acc = 0;
    let keep = 0;
    while (keep < probs.length && acc < topP * sum) acc += probs[keep++];
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    sum = acc;
  }
  let r = rand() * sum;
  for (let j = 0; j < ids.length; j++) if ((r -= probs[j]) <= 0) return ids[j];
  return ids[ids.length - 1];
}

export function generate(model: Model, prompt: string, o: GenerateOptions = {}): GenerateResult {
  const tok = model.tokenizer;
  const promptIds = [
    ...((o.addBos ?? true) && tok.addBos && tok.bos !== undefined ? [tok.bos] : []),
    ...tok.encode(prompt, { parseSpecial: true }),
  ];
  if (promptIds.length === 0 && tok.bos !== undefined) promptIds.push(tok.bos);
  const maxTokens = o.maxTokens ?? 64;
  const nCtx = Math.min(model.config.nCtxTrain, promptIds.length + maxTokens);
  const session = new Session(model, Math.max(nCtx, promptIds.length + 1), o.linear);
  const rng = new SeededRandom(o.seed ?? 0);
  const rand = () => rng.next();
  const out: number[] = [];
  let stopReason: GenerateResult["stopReason"] = "max-tokens";
  const start = performance.now();
  try {
    let logits = session.eval(promptIds.slice(0, session.nCtx));
    while (out.length < maxTokens) {
      const next = sample(logits, o, rand);
      if (next === tok.eos || next === tok.eot) {
        stopReason = "eos";
        break;
      }
      out.push(next);
      if (session.nPast >= session.nCtx) {
        stopReason = "context";
        break;
      }
      if (out.length < maxTokens) logits = session.eval([next]);
    }
  } finally {
    session.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    text: tok.decode(out),
    tokens: out,
    promptTokens: promptIds.length,
    stopReason,
    tokensPerSecond: out.length / seconds,
  };
}
