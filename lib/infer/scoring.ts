// Log-probabilities and logits from llama.cpp (node-llama-cpp's controlledEvaluate): per-token NLL of a
// text, perplexity over windows, and full next-token logit rows for KL divergence between two models.
import type { Token } from "node-llama-cpp";
import type { LoadedModel } from "./model.js";
import { nllSummary, type NllSummary } from "../eval/metrics/perplexity.js";
import { InputError } from "../util/errors.js";

/**
 * ln p(tokens[i] | tokens[<i]) for i = 1 … n−1 (position 0 has no prediction). The caller holds
 * {@link LoadedModel.exclusive}; the sequence is cleared first.
 */
export async function tokenLogProbs(m: LoadedModel, tokens: readonly Token[]): Promise<Float64Array> {
  if (tokens.length < 2) return new Float64Array(0);
  if (tokens.length > m.info.contextSize)
    throw new InputError(`${tokens.length} tokens do not fit the context of ${m.info.contextSize}`);
  await m.sequence.clearHistory();
  // For each position ask for the logit of the actual next token, the top logit and Σexp(logit − max):
  // ln p = logit − max − ln Σ. Only three numbers cross from C++ per position instead of the vocabulary.
  const input = tokens.map((t, i) =>
    i < tokens.length - 1
      ? ([
          t,
          {
            generateNext: {
              logits: { filter: { tokens: [tokens[i + 1]], includeTop: 1 } },
              totalLogitWeight: true,
            },
          },
        ] as const)
      : t,
  );
  const out = await m.sequence.controlledEvaluate(
    input as Parameters<typeof m.sequence.controlledEvaluate>[0],
  );
  const lp = new Float64Array(tokens.length - 1);
  for (let i = 0; i < tokens.length - 1; i++) {
    const next = out[i]?.next;
    const logits = next?.logits;
    const weight = next?.totalLogitWeight;
    if (!logits || weight === undefined) throw new Error(`llama.cpp returned no logits for position ${i}`);
    const max = Math.max(...logits.values());
    const target = logits.get(tokens[i + 1]);
    if (target === undefined) throw new Error(`llama.cpp returned no logit for token ${tokens[i + 1]}`);
    lp[i] = target - max - Math.log(weight);
  }
  return lp;
}

/** Full next-token logit rows after each of `tokens` (row i predicts token i+1). Clears the sequence. */
export async function nextTokenLogits(m: LoadedModel, tokens: readonly Token[]): Promise<Float32Array[]> {
  if (tokens.length > m.info.contextSize)
    throw new InputError(`${tokens.length} tokens do not fit the context of ${m.info.contextSize}`);
  await m.sequence.clearHistory();
  const input = tokens.map((t) => [t, { generateNext: { logits: true } }] as const);
  const out = await m.sequence.controlledEvaluate(
    input as unknown as Parameters<typeof m.sequence.controlledEvaluate>[0],
  );
  return out.map((o, i) => {
    const logits = o?.next.logits;
    if (!logits) throw new Error(`llama.cpp returned no logits for position ${i}`);
    const row = new Float32Array(m.info.vocabSize);
    for (const [token, value] of logits) row[token] = value;
    return row;
  });
}

/** Options of {@link textNll}. */
export interface TextNllOptions {
  /** Tokens per window (each window starts with BOS and is scored from its second token). Default: the context size. */
  windowTokens?: number;
  /** Score at most this many tokens of the text. */
  maxTokens?: number;
}

/** Token windows of a text: BOS + up to windowTokens−1 text tokens each, non-overlapping. */
export function textWindows(m: LoadedModel, text: string, options: TextNllOptions = {}): Token[][] {
  const window = Math.min(options.windowTokens ?? m.info.contextSize, m.info.contextSize);
  if (window < 2) throw new InputError("windowTokens must be at least 2", { field: "windowTokens" });
  let ids = m.tokenize(text, false);
  if (options.maxTokens !== undefined) ids = ids.slice(0, options.maxTokens);
  const bos = m.model.tokens.bos;
  const per = bos !== null ? window - 1 : window;
  const windows: Token[][] = [];
  for (let i = 0; i < ids.length; i += per) {
    const chunk = ids.slice(i, i + per);
    windows.push(bos !== null ? [bos, ...chunk] : chunk);
  }
  return windows.filter((w) => w.length >= 2);
}

/** Mean NLL and perplexity of a text under the model (llama.cpp evaluation). */
export async function textNll(
  m: LoadedModel,
  text: string,
  options: TextNllOptions = {},
): Promise<NllSummary> {
  const windows = textWindows(m, text, options);
  if (windows.length === 0) throw new InputError("the text is too short to score (fewer than two tokens)");
  return m.exclusive(async () => {
    const all: number[] = [];
    for (const w of windows) all.push(...(await tokenLogProbs(m, w)));
    return nllSummary(all);
  });
}
