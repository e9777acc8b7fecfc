// KL divergence between next-token distributions, as llama.cpp's `perplexity --kl-divergence` reports
// it: per position KL(P_ref ‖ P_test) = Σ p_ref (ln p_ref − ln p_test), computed from log-softmax of
// the logits (no underflow to zero probabilities), plus how often both models agree on the top token.
import { logSoftmax } from "./perplexity.js";

/** KL(P‖Q) from two rows of logits over the same vocabulary, nats. */
export function klFromLogits(refLogits: ArrayLike<number>, testLogits: ArrayLike<number>): number {
  if (refLogits.length !== testLogits.length)
    throw new RangeError(`klFromLogits: vocabularies differ (${refLogits.length} vs ${testLogits.length})`);
  const lp = logSoftmax(refLogits);
  const lq = logSoftmax(testLogits);
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]);
    if (p > 0) kl += p * (lp[i] - lq[i]);
  }
  return Math.max(0, kl);
}

/** KL(P‖Q) from two probability vectors; zero q where p > 0 gives Infinity. */
export function klFromProbabilities(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length)
    throw new RangeError(`klFromProbabilities: lengths differ (${p.length} vs ${q.length})`);
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] <= 0) continue;
    if (q[i] <= 0) return Infinity;
    kl += p[i] * Math.log(p[i] / q[i]);
  }
  return Math.max(0, kl);
}

/** Summary of per-position KL values. */
export interface KlSummary {
  /** Positions compared. */
  positions: number;
  /** Mean KL, nats. */
  mean: number;
  /** Median KL, nats. */
  median: number;
  /** 99th percentile KL, nats. */
  p99: number;
  /** Largest KL, nats. */
  max: number;
  /** Fraction (0–1) of positions where both distributions have the same most likely token. */
  sameTop: number;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** Per-position KL between two sequences of logit rows, summarised. */
export function klSummary(
  refRows: ReadonlyArray<ArrayLike<number>>,
  testRows: ReadonlyArray<ArrayLike<number>>,
): KlSummary {
  if (refRows.length !== testRows.length)
    throw new RangeError(`klSummary: ${refRows.length} reference rows but ${testRows.length} test rows`);
  const kls = refRows.map((r, i) => klFromLogits(r, testRows[i]));
  const same = refRows.filter((r, i) => argmax(r) === argmax(testRows[i])).length;
  const sorted = [...kls].sort((a, b) => a - b);
  return {
    positions: kls.length,
    mean: kls.reduce((s, v) => s + v, 0) / Math.max(1, kls.length),
    median: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    sameTop: kls.length ? same / kls.length : NaN,
  };
}

/** Percentile of sorted values with linear interpolation between ranks (numpy's default). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}
