// Classification accuracy, confusion matrix and per-class precision/recall/F1, plus a label extractor
// that maps a generated answer onto a known label set.
import { normalizeAnswer } from "./exact-match.js";

/** Classification report. */
export interface ClassificationReport {
  /** Fraction (0–1) of correct predictions. */
  accuracy: number;
  /** Labels in matrix order (reference labels first, sorted; then predicted-only labels). */
  labels: string[];
  /** matrix[i][j] = items whose reference is labels[i] and prediction labels[j]. */
  matrix: number[][];
  /** Per-label precision, recall, F1 and support. */
  perClass: Record<string, { precision: number; recall: number; f1: number; support: number }>;
  /** Unweighted mean F1 over reference labels. */
  macroF1: number;
}

/** Accuracy and confusion matrix of predicted labels against reference labels. */
export function classificationReport(
  predicted: readonly string[],
  reference: readonly string[],
): ClassificationReport {
  if (predicted.length !== reference.length)
    throw new RangeError(
      `classificationReport: ${predicted.length} predictions but ${reference.length} references`,
    );
  const refLabels = [...new Set(reference)].sort();
  const extra = [...new Set(predicted)].filter((l) => !refLabels.includes(l)).sort();
  const labels = [...refLabels, ...extra];
  const index = new Map(labels.map((l, i) => [l, i]));
  const matrix = labels.map(() => new Array<number>(labels.length).fill(0));
  let correct = 0;
  reference.forEach((r, k) => {
    matrix[index.get(r)!][index.get(predicted[k])!]++;
    if (r === predicted[k]) correct++;
  });
  const perClass: ClassificationReport["perClass"] = {};
  labels.forEach((l, i) => {
    const tp = matrix[i][i];
    const support = matrix[i].reduce((s, v) => s + v, 0);
    const predictedCount = matrix.reduce((s, row) => s + row[i], 0);
    const precision = predictedCount ? tp / predictedCount : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[l] = { precision, recall, f1, support };
  });
  const macroF1 = refLabels.length ? refLabels.reduce((s, l) => s + perClass[l].f1, 0) / refLabels.length : 0;
  return { accuracy: reference.length ? correct / reference.length : 0, labels, matrix, perClass, macroF1 };
}

/**
 * Maps a free-text answer onto one of `labels`: an exact match after normalisation first, otherwise
 * the longest label whose normalised form occurs as whole words in the answer; `otherLabel` when none.
 */
export function extractLabel(answer: string, labels: readonly string[], otherLabel = "(other)"): string {
  const norm = normalizeAnswer(answer, { removeArticles: false });
  const exact = labels.find((l) => normalizeAnswer(l, { removeArticles: false }) === norm);
  if (exact !== undefined) return exact;
  const padded = ` ${norm} `;
  const found = [...labels]
    .sort((a, b) => b.length - a.length)
    .find((l) => {
      const nl = normalizeAnswer(l, { removeArticles: false });
      return nl !== "" && padded.includes(` ${nl} `);
    });
  return found ?? otherLabel;
}
