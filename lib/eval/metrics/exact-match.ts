// Exact match after the SQuAD answer normalisation (lowercase, drop punctuation, drop the English
// articles a/an/the, collapse whitespace), made Unicode-aware: any punctuation character (\p{P}) and
// symbols are removed, text is NFKC-normalised so "ﬁ" and "fi" or full-width digits compare equal.

/** Options of {@link normalizeAnswer}. */
export interface NormalizeOptions {
  /** Remove the English articles a, an, the (SQuAD). Default true. */
  removeArticles?: boolean;
  /** Remove punctuation and symbols. Default true. */
  removePunctuation?: boolean;
  /** Lowercase. Default true. */
  lowercase?: boolean;
}

/** SQuAD-style answer normalisation. */
export function normalizeAnswer(text: string, o: NormalizeOptions = {}): string {
  let s = text.normalize("NFKC");
  if (o.lowercase ?? true) s = s.toLowerCase();
  if (o.removePunctuation ?? true) s = s.replace(/[\p{P}\p{S}]/gu, "");
  if (o.removeArticles ?? true) s = s.replace(/\b(a|an|the)\b/g, " ");
  return s.split(/\s+/u).filter(Boolean).join(" ");
}

/** Whether a prediction equals any reference after normalisation. */
export function isExactMatch(
  prediction: string,
  references: readonly string[],
  o: NormalizeOptions = {},
): boolean {
  const p = normalizeAnswer(prediction, o);
  return references.some((r) => normalizeAnswer(r, o) === p);
}

/** Fraction (0–1) of predictions that match a reference exactly after normalisation. */
export function exactMatchRate(
  predictions: readonly string[],
  references: ReadonlyArray<readonly string[]>,
  o: NormalizeOptions = {},
): number {
  if (predictions.length === 0) return 0;
  return predictions.filter((p, i) => isExactMatch(p, references[i], o)).length / predictions.length;
}

/** Fraction (0–1) of predictions equal to a reference after trimming only (no normalisation). */
export function strictMatchRate(
  predictions: readonly string[],
  references: ReadonlyArray<readonly string[]>,
): number {
  if (predictions.length === 0) return 0;
  return (
    predictions.filter((p, i) => references[i].some((r) => r.trim() === p.trim())).length / predictions.length
  );
}
