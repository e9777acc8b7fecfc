// Text generation on a LoadedModel through llama.cpp's samplers (node-llama-cpp's sequence.evaluate):
// greedy or temperature/top-k/top-p/min-p with a seed, optional grammar, stop strings, streaming deltas,
// and timings (time to first token, total, tokens per second).
import type { LlamaGrammar, Token } from "node-llama-cpp";
import type { LoadedModel } from "./model.js";
import { nodeLlamaCppModule } from "./node-llama.js";
import { InputError } from "../util/errors.js";

/** Sampling settings (llama.cpp's samplers). */
export interface SamplingOptions {
  /** 0 = greedy (default). */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off). */
  topK?: number;
  /** Nucleus sampling threshold (1 = off). */
  topP?: number;
  /** Drop tokens below minP × the top probability (0 = off). */
  minP?: number;
  /** Seed of the sampler; the same seed and settings give the same text. */
  seed?: number;
}

/** Options of {@link generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default 256; never beyond the context. */
  maxTokens?: number;
  /** Stop when the text contains one of these (the stop string is not returned). */
  stop?: readonly string[];
  /** Only sample tokens this grammar admits. */
  grammar?: LlamaGrammar;
  /** Receives each new piece of text as it is generated (stop strings are never emitted). */
  onText?: (delta: string) => void;
  /** Aborts generation; the result so far is returned with finishReason "abort". */
  signal?: AbortSignal;
}

/** Why generation ended. */
export type FinishReason = "stop" | "length" | "abort";

/** Result of {@link generate}. */
export interface GenerateResult {
  /** Generated text (stop strings removed, a grammar's trailing whitespace trimmed). */
  text: string;
  /** Generated tokens. */
  tokens: Token[];
  finishReason: FinishReason;
  /** Prompt length, tokens. */
  promptTokens: number;
  /** Generated tokens. */
  completionTokens: number;
  /** Prompt tokens served from the KV cache of the previous request. */
  cachedPromptTokens: number;
  /** Wall times, ms: to the first generated token (prompt processing + one step), and in total. */
  firstTokenMs: number;
  totalMs: number;
  /** Generated tokens per second after the first token (decode speed; NaN with fewer than two tokens). */
  decodeTokensPerSecond: number;
}

function triggerText(t: unknown): string {
  if (typeof t === "string") return t;
  if (Array.isArray(t)) return t.filter((x): x is string => typeof x === "string").join("");
  return String(t);
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string (held back while streaming). */
function heldBack(text: string, stops: readonly string[]): number {
  let keep = 0;
  for (const s of stops)
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--)
      if (text.endsWith(s.slice(0, n))) keep = n;
  return keep;
}

/** Generates from prompt tokens. The caller holds {@link LoadedModel.exclusive}. */
export async function generateFromTokens(
  m: LoadedModel,
  promptTokens: Token[],
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const started = performance.now();
  const room = m.info.contextSize - promptTokens.length;
  if (room < 1)
    throw new InputError(`prompt has ${promptTokens.length} tokens; the context holds ${m.info.contextSize}`);
  const maxTokens = Math.max(0, Math.min(options.maxTokens ?? 256, room));
  const toEvaluate = await m.prepare(promptTokens);
  const cachedPromptTokens = promptTokens.length - toEvaluate.length;
  const stops = [
    ...(options.stop ?? []),
    ...(options.grammar ? options.grammar.stopGenerationTriggers.map(triggerText) : []),
  ].filter((s) => s.length > 0);
  let grammarEvaluationState;
  if (options.grammar) {
    const { LlamaGrammarEvaluationState } = await nodeLlamaCppModule();
    grammarEvaluationState = new LlamaGrammarEvaluationState({ model: m.model, grammar: options.grammar });
  }
  // The prompt's last tokens decide whether the first generated piece starts with a space.
  const context = promptTokens.slice(-4);
  const tokens: Token[] = [];
  let text = "";
  let emitted = 0;
  let finishReason: FinishReason = "stop";
  let firstTokenMs = NaN;
  let firstTokenAt = 0;
  const temperature = options.temperature ?? 0;
  if (maxTokens === 0) finishReason = "length";
  else {
    const iterator = m.sequence.evaluate(toEvaluate, {
      temperature,
      ...(temperature > 0
        ? { topK: options.topK ?? 0, topP: options.topP ?? 1, minP: options.minP ?? 0 }
        : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(grammarEvaluationState ? { grammarEvaluationState } : {}),
    });
    let stoppedByString = false;
    for await (const token of iterator) {
      if (tokens.length === 0) {
        firstTokenAt = performance.now();
        firstTokenMs = firstTokenAt - started;
      }
      tokens.push(token);
      text = m.detokenize(tokens, context);
      const hit = stops
        .map((s) => text.indexOf(s, Math.max(0, emitted - s.length)))
        .filter((i) => i >= 0)
        .sort((a, b) => a - b)[0];
      if (hit !== undefined) {
        text = text.slice(0, hit);
        stoppedByString = true;
      }
      // Hold back an incomplete UTF-8 character (U+FFFD at the end) and a possible stop-string prefix.
      const safeEnd = stoppedByString
        ? text.length
        : text.endsWith("\uFFFD")
          ? text.length - 1
          : text.length - heldBack(text, stops);
      if (options.onText && safeEnd > emitted) options.onText(text.slice(emitted, safeEnd));
      emitted = Math.max(emitted, safeEnd);
      if (stoppedByString) break;
      if (options.signal?.aborted) {
        finishReason = "abort";
        break;
      }
      if (tokens.length >= maxTokens) {
        finishReason = "length";
        break;
      }
    }
    await iterator.return();
  }
  if (options.grammar?.trimWhitespaceSuffix) text = text.replace(/\s+$/u, "");
  if (options.onText && text.length > emitted) options.onText(text.slice(emitted));
  const totalMs = performance.now() - started;
  const decodeMs = performance.now() - firstTokenAt;
  return {
    text,
    tokens,
    finishReason,
    promptTokens: promptTokens.length,
    completionTokens: tokens.length,
    cachedPromptTokens,
    firstTokenMs,
    totalMs,
    decodeTokensPerSecond: tokens.length > 1 ? ((tokens.length - 1) * 1000) / decodeMs : NaN,
  };
}

/** Raw text completion: the prompt is tokenized (special tokens parsed, BOS added when the model wants it). */
export function complete(
  m: LoadedModel,
  prompt: string,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  return m.exclusive(() => generateFromTokens(m, m.withBos(m.tokenize(prompt, true)), options));
}
