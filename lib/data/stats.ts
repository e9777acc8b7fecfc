// Length statistics of a dataset (characters always, tokens when a measure is given) and
// fixed-width histograms for reports and plots.
import { messageText, recordChars, type ChatRecord } from "./record.js";

/** Summary of a list of lengths. */
export interface LengthSummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

/** A histogram with equal-width bins; `edges` has one more entry than `counts`. */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/** Summary of `values` (nearest-rank percentiles). All zeros for an empty list. */
export function summarize(values: readonly number[]): LengthSummary {
  if (values.length === 0) return { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0 };
  const s = values.slice().sort((a, b) => a - b);
  const pct = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  return {
    count: s.length,
    min: s[0]!,
    max: s[s.length - 1]!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
  };
}

/** Equal-width histogram of `values` with `bins` bins from min to max (the last bin includes max). */
export function histogram(values: readonly number[], bins = 20): Histogram {
  if (values.length === 0) return { edges: [0, 1], counts: [0] };
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const n = hi === lo ? 1 : Math.max(1, Math.floor(bins));
  const width = hi === lo ? 1 : (hi - lo) / n;
  const counts = new Array<number>(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.floor((v - lo) / width))]!++;
  return { edges: Array.from({ length: n + 1 }, (_, i) => lo + i * width), counts };
}

/** Per-record length facts used by reports. */
export interface RecordLengths {
  /** Characters of all text (tool-call arguments included). */
  chars: number;
  /** Messages in the record. */
  messages: number;
  /** Characters of assistant text (what the model learns to write). */
  assistantChars: number;
}

/** Length facts of one record. */
export function recordLengths(r: ChatRecord): RecordLengths {
  if (r.text !== undefined && r.messages.length === 0) return { chars: r.text.length, messages: 0, assistantChars: r.text.length };
  return {
    chars: recordChars(r),
    messages: r.messages.length,
    assistantChars: r.messages.filter((m) => m.role === "assistant").reduce((n, m) => n + messageText(m).length, 0),
  };
}

/** Count of records per class label, largest first (ties by name). */
export function classBalance(labels: ReadonlyArray<string | undefined>): Array<{ label: string; count: number; share: number }> {
  const counts = new Map<string, number>();
  let total = 0;
  for (const l of labels) {
    if (l === undefined) continue;
    counts.set(l, (counts.get(l) ?? 0) + 1);
    total++;
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([label, count]) => ({ label, count, share: count / total }));
}
