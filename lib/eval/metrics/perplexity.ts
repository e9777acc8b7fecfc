// Mean negative log-likelihood and perplexity from per-token log-probabilities (natural log).

/** NLL summary of a token stream. */
export interface NllSummary {
  /** Number of scored tokens. */
  tokens: number;
  /** Mean negative log-likelihood per token, nats. */
  meanNll: number;
  /** exp(meanNll). */
  perplexity: number;
  /** Standard error of meanNll (sample std / √n), nats; 0 with fewer than two tokens. */
  stdErr: number;
}

/** Summarises log-probabilities (ln p of each actual next token). */
export function nllSummary(logProbs: ArrayLike<number>): NllSummary {
  const n = logProbs.length;
  if (n === 0) return { tokens: 0, meanNll: NaN, perplexity: NaN, stdErr: 0 };
  let sum = 0;
  for (let i = 0; i < n; i++) sum -= logProbs[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (-logProbs[i] - mean) ** 2;
  const stdErr = n > 1 ? Math.sqrt(sq / (n - 1) / n) : 0;
  return { tokens: n, meanNll: mean, perplexity: Math.exp(mean), stdErr };
}

/** Log-softmax of one row of logits, in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}
