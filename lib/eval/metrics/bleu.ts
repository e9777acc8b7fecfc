// Corpus and sentence BLEU computed the way sacreBLEU 2.x does by default: mteval-v13a tokenization,
// case-sensitive, n-grams 1..4, "exp" smoothing (NIST), brevity penalty from the closest reference length.

/** Options of {@link corpusBleu} and {@link sentenceBleu}. */
export interface BleuOptions {
  /** Lowercase hypotheses and references before tokenizing. Default false (sacreBLEU's default). */
  lowercase?: boolean;
  /** Tokenizer: "13a" (mteval-v13a, sacreBLEU's default) or "none" (split on whitespace only). */
  tokenize?: "13a" | "none";
  /** Highest n-gram order. Default 4. */
  maxOrder?: number;
  /** Smoothing of zero n-gram matches: "exp" (NIST, sacreBLEU's default), "floor" or "none". */
  smooth?: "exp" | "floor" | "none";
  /** Value used by "floor" smoothing. Default 0.1. */
  floorValue?: number;
  /** Stop at the highest n-gram order that has any hypothesis n-grams (sacreBLEU's effective_order). */
  effectiveOrder?: boolean;
}

/** A BLEU score with its sufficient statistics, scaled 0–100 like sacreBLEU. */
export interface BleuScore {
  /** BLEU, 0–100. */
  score: number;
  /** Matched n-grams per order (clipped by the reference counts). */
  counts: number[];
  /** Hypothesis n-grams per order. */
  totals: number[];
  /** n-gram precisions per order, 0–100 (after smoothing). */
  precisions: number[];
  /** Brevity penalty. */
  bp: number;
  /** Hypothesis length in tokens. */
  sysLen: number;
  /** Effective reference length in tokens (closest reference per segment, ties → shorter). */
  refLen: number;
}

// mteval-v13a: punctuation and symbols become their own tokens; periods and commas only when they are
// not between digits; a dash after a digit is split.
const V13A_RULES: Array<[RegExp, string]> = [
  [/([{-~[-` -&(-+:-@/])/g, " $1 "],
  [/([^0-9])([.,])/g, "$1 $2 "],
  [/([.,])([^0-9])/g, " $1 $2"],
  [/([0-9])(-)/g, "$1 $2 "],
];

/** Tokenizes one segment as mteval-v13a (and sacreBLEU's "13a" tokenizer) does. */
export function tokenize13a(line: string): string {
  let s = line
    .replace(/<skipped>/g, "")
    .replace(/-\n/g, "")
    .replace(/\n/g, " ");
  s = s
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">");
  s = ` ${s} `;
  for (const [re, repl] of V13A_RULES) s = s.replace(re, repl);
  return splitWhitespace(s).join(" ");
}

function splitWhitespace(s: string): string[] {
  const t = s.trim();
  return t ? t.split(/\s+/) : [];
}

function ngramCounts(tokens: string[], maxOrder: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let n = 1; n <= maxOrder; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      // \u0001 cannot occur inside a token (tokens come from a whitespace split), so it is a safe joiner.
      const key = `${n}\u0001${tokens.slice(i, i + n).join("\u0001")}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

function closestRefLength(hypLen: number, refLens: number[]): number {
  let bestDiff = -1;
  let best = -1;
  for (const len of refLens) {
    const diff = Math.abs(hypLen - len);
    if (bestDiff === -1 || diff < bestDiff) {
      bestDiff = diff;
      best = len;
    } else if (diff === bestDiff && len < best) best = len;
  }
  return best;
}

function preprocess(text: string, opts: BleuOptions): string[] {
  const s = opts.lowercase ? text.toLowerCase() : text;
  const trimmed = s.replace(/\s+$/u, "");
  return splitWhitespace((opts.tokenize ?? "13a") === "13a" ? tokenize13a(trimmed) : trimmed);
}

/**
 * Corpus BLEU. `references[i]` holds the references of `hypotheses[i]` (any number; empty strings,
 * null or undefined are skipped, like sacreBLEU's variable number of references).
 */
export function corpusBleu(
  hypotheses: readonly string[],
  references: ReadonlyArray<ReadonlyArray<string | null | undefined>>,
  options: BleuOptions = {},
): BleuScore {
  if (hypotheses.length !== references.length)
    throw new RangeError(
      `corpusBleu: ${hypotheses.length} hypotheses but ${references.length} reference lists`,
    );
  const maxOrder = options.maxOrder ?? 4;
  const counts = new Array<number>(maxOrder).fill(0);
  const totals = new Array<number>(maxOrder).fill(0);
  let sysLen = 0;
  let refLen = 0;
  hypotheses.forEach((hyp, i) => {
    const refs = references[i].filter((r): r is string => typeof r === "string" && r !== "");
    const refMax = new Map<string, number>();
    const refLens: number[] = [];
    for (const ref of refs) {
      const toks = preprocess(ref, options);
      refLens.push(toks.length);
      for (const [k, c] of ngramCounts(toks, maxOrder)) refMax.set(k, Math.max(refMax.get(k) ?? 0, c));
    }
    const hypToks = preprocess(hyp, options);
    sysLen += hypToks.length;
    refLen += refLens.length ? closestRefLength(hypToks.length, refLens) : 0;
    for (const [k, c] of ngramCounts(hypToks, maxOrder)) {
      const n = Number(k.slice(0, k.indexOf("\u0001")));
      counts[n - 1] += Math.min(c, refMax.get(k) ?? 0);
    }
    for (let n = 1; n <= maxOrder; n++) totals[n - 1] += Math.max(0, hypToks.length - n + 1);
  });
  return bleuFromStatistics(counts, totals, sysLen, refLen, options);
}

/** Sentence BLEU as sacreBLEU's `sentence_bleu`: effective order on, "exp" smoothing. */
export function sentenceBleu(hypothesis: string, references: readonly string[], options: BleuOptions = {}) {
  return corpusBleu([hypothesis], [references], { effectiveOrder: true, ...options });
}

/** BLEU from its sufficient statistics (sacreBLEU's `compute_bleu`). */
export function bleuFromStatistics(
  counts: readonly number[],
  totals: readonly number[],
  sysLen: number,
  refLen: number,
  options: BleuOptions = {},
): BleuScore {
  const maxOrder = options.maxOrder ?? 4;
  const smooth = options.smooth ?? "exp";
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const precisions = new Array<number>(maxOrder).fill(0);
  const result = { counts: [...counts], totals: [...totals], precisions, bp, sysLen, refLen };
  if (!counts.some((c) => c > 0)) return { score: 0, ...result };
  let smoothMteval = 1;
  let effOrder = maxOrder;
  for (let n = 1; n <= maxOrder; n++) {
    if (totals[n - 1] === 0) break;
    if (options.effectiveOrder) effOrder = n;
    if (counts[n - 1] === 0) {
      if (smooth === "exp") {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * totals[n - 1]);
      } else if (smooth === "floor") precisions[n - 1] = (100 * (options.floorValue ?? 0.1)) / totals[n - 1];
    } else precisions[n - 1] = (100 * counts[n - 1]) / totals[n - 1];
  }
  // sacreBLEU's my_log: log(0) is a huge negative number rather than -Infinity.
  const logSum = precisions.slice(0, effOrder).reduce((s, p) => s + (p === 0 ? -9999999999 : Math.log(p)), 0);
  return { score: bp * Math.exp(logSum / effOrder), ...result };
}
