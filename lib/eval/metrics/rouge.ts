// ROUGE-L (Lin 2004) on words, as Google's rouge-score computes it without stemming: lowercase, every
// character that is not a letter or digit becomes a space, F = harmonic mean of LCS precision and recall.
// rouge-score keeps only ASCII [a-z0-9]; here any Unicode letter/digit counts, so Spanish or Russian text
// is not shredded (identical results on ASCII text).

/** ROUGE-L precision, recall and F-measure, each 0–1. */
export interface RougeLScore {
  precision: number;
  recall: number;
  f: number;
}

/** rouge-score's tokenization (Unicode-aware): lowercase words of letters and digits. */
export function rougeTokens(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim()
    .split(" ")
    .filter((t) => t.length > 0);
}

/** Length of the longest common subsequence of two token lists. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++)
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    prev = cur;
  }
  return prev[b.length];
}

/** ROUGE-L of a prediction against one reference (rouge-score's `score(target, prediction)`). */
export function rougeL(prediction: string, reference: string): RougeLScore {
  const p = rougeTokens(prediction);
  const r = rougeTokens(reference);
  if (p.length === 0 || r.length === 0) return { precision: 0, recall: 0, f: 0 };
  const lcs = lcsLength(r, p);
  const precision = lcs / p.length;
  const recall = lcs / r.length;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f };
}

/** Mean ROUGE-L F over pairs; with several references per item the best F counts. */
export function meanRougeL(
  predictions: readonly string[],
  references: ReadonlyArray<readonly string[]>,
): number {
  if (predictions.length === 0) return 0;
  let sum = 0;
  predictions.forEach((p, i) => (sum += Math.max(0, ...references[i].map((r) => rougeL(p, r).f))));
  return sum / predictions.length;
}
