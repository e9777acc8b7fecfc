// chrF (Popović 2015) as sacreBLEU 2.x computes it by default ("chrF2"): character n-grams 1..6 with
// whitespace removed, β = 2, averaged precision/recall over the orders that have n-grams on both sides
// (effective order), statistics summed over the corpus, best reference per segment by F-score.

/** Options of {@link corpusChrf}. */
export interface ChrfOptions {
  /** Highest character n-gram order. Default 6. */
  charOrder?: number;
  /** Recall weight β. Default 2. */
  beta?: number;
  /** Lowercase before extracting n-grams. Default false. */
  lowercase?: boolean;
  /** Keep whitespace inside character n-grams. Default false. */
  whitespace?: boolean;
  /** chrF++.py-style ε smoothing instead of the effective-order average. Default false. */
  epsSmoothing?: boolean;
}

/** chrF score, 0–100. */
export interface ChrfScore {
  /** chrF, 0–100. */
  score: number;
  /** β used. */
  beta: number;
}

function charNgrams(text: string, n: number): Map<string, number> {
  const chars = Array.from(text);
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= chars.length; i++) {
    const key = chars.slice(i, i + n).join("");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function prepare(text: string, o: ChrfOptions): string {
  const s = o.lowercase ? text.toLowerCase() : text;
  return o.whitespace ? s : s.split(/\s+/u).join("");
}

function segmentStats(hyp: string, ref: string, order: number): number[] {
  const stats: number[] = [];
  for (let n = 1; n <= order; n++) {
    const h = charNgrams(hyp, n);
    const r = charNgrams(ref, n);
    let hypCount = 0;
    let match = 0;
    for (const [k, c] of h) {
      hypCount += c;
      const rc = r.get(k);
      if (rc) match += Math.min(c, rc);
    }
    let refCount = 0;
    for (const c of r.values()) refCount += c;
    // As sacreBLEU: hypothesis n-grams do not count when the reference has none of that order.
    stats.push(r.size ? hypCount : 0, refCount, match);
  }
  return stats;
}

function fScore(stats: readonly number[], order: number, o: ChrfOptions): number {
  const beta = o.beta ?? 2;
  const factor = beta * beta;
  const eps = 1e-16;
  let smoothed = 0;
  let avgPrec = 0;
  let avgRec = 0;
  let effective = 0;
  for (let i = 0; i < order; i++) {
    const [nHyp, nRef, nMatch] = stats.slice(3 * i, 3 * i + 3);
    const prec = nHyp > 0 ? nMatch / nHyp : eps;
    const rec = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * prec + rec;
    smoothed += denom > 0 ? ((1 + factor) * prec * rec) / denom : eps;
    if (nHyp > 0 && nRef > 0) {
      avgPrec += prec;
      avgRec += rec;
      effective++;
    }
  }
  if (o.epsSmoothing) return (100 * smoothed) / order;
  if (effective === 0) return 0;
  avgPrec /= effective;
  avgRec /= effective;
  if (avgPrec + avgRec === 0) return 0;
  return (100 * ((1 + factor) * avgPrec * avgRec)) / (factor * avgPrec + avgRec);
}

/** Corpus chrF. `references[i]` holds the references of `hypotheses[i]` (empty/null ones skipped). */
export function corpusChrf(
  hypotheses: readonly string[],
  references: ReadonlyArray<ReadonlyArray<string | null | undefined>>,
  options: ChrfOptions = {},
): ChrfScore {
  if (hypotheses.length !== references.length)
    throw new RangeError(
      `corpusChrf: ${hypotheses.length} hypotheses but ${references.length} reference lists`,
    );
  const order = options.charOrder ?? 6;
  const total = new Array<number>(order * 3).fill(0);
  hypotheses.forEach((hyp, i) => {
    const refs = references[i].filter((r): r is string => typeof r === "string" && r !== "");
    let best: number[] = [];
    let bestF = -1;
    for (const ref of refs) {
      const stats = segmentStats(prepare(hyp, options), prepare(ref, options), order);
      const f = fScore(stats, order, options);
      if (f > bestF) {
        bestF = f;
        best = stats;
      }
    }
    best.forEach((v, j) => (total[j] += v));
  });
  return { score: fScore(total, order, options), beta: options.beta ?? 2 };
}

/** chrF of one hypothesis against its references. */
export function sentenceChrf(hypothesis: string, references: readonly string[], options: ChrfOptions = {}) {
  return corpusChrf([hypothesis], [references], options);
}
