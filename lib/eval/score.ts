// Scores a set of answers against an eval set's references with the chosen metrics; one flat record of
// numbers (what reports and comparisons tabulate) plus the detailed reports behind them.
import type { ToolCall } from "../chat/types.js";
import type { BackendReply } from "./backends.js";
import type { EvalExample } from "./dataset.js";
import {
  classificationReport,
  corpusBleu,
  corpusChrf,
  exactMatchRate,
  extractLabel,
  functionCallingReport,
  latencySummary,
  meanRougeL,
  nllSummary,
  strictMatchRate,
  type CallLike,
  type ClassificationReport,
  type FunctionCallingReport,
  type LatencySummary,
  type NllSummary,
  type SyntaxValidator,
} from "./metrics/index.js";
import { InputError } from "../util/errors.js";

/** Metric families an eval can compute. */
export const METRIC_NAMES = [
  "bleu",
  "chrf",
  "rouge",
  "exact",
  "nll",
  "function-calling",
  "accuracy",
  "syntax",
  "latency",
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Parses "--metrics bleu,chrf,…" ("auto" or empty → undefined, meaning: chosen from the data). */
export function parseMetricList(text: string | undefined): MetricName[] | undefined {
  if (!text || text === "auto") return undefined;
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!(METRIC_NAMES as readonly string[]).includes(n))
      throw new InputError(`unknown metric "${n}" (known: ${METRIC_NAMES.join(", ")})`, { field: "metrics" });
  return names as MetricName[];
}

/** The metrics that make sense for an eval set. */
export function defaultMetrics(
  examples: readonly EvalExample[],
  o: { local: boolean; validator: boolean; labels: boolean },
): MetricName[] {
  const m: MetricName[] = ["bleu", "chrf", "rouge", "exact", "latency"];
  if (examples.some((e) => e.referenceCalls.length > 0 || e.tools?.length)) m.push("function-calling");
  if (o.local) m.push("nll");
  if (o.validator) m.push("syntax");
  if (o.labels) m.push("accuracy");
  return m;
}

/** What scoring needs besides the answers. */
export interface ScoreOptions {
  metrics: readonly MetricName[];
  /** Syntax validator for "syntax". */
  validator?: SyntaxValidator;
  /** Label set for "accuracy" (answers are mapped onto it); default: the distinct reference texts. */
  labels?: readonly string[];
  /** Reference-token log-probs per example (for "nll"); undefined entries are skipped. */
  referenceLogProbs?: ReadonlyArray<Float64Array | undefined>;
}

/** Scores and the reports behind them. */
export interface ScoreResult {
  /** Flat metric name → value (rates 0–1, BLEU/chrF 0–100, times in ms). */
  metrics: Record<string, number>;
  functionCalling?: FunctionCallingReport;
  classification?: ClassificationReport;
  latency?: LatencySummary;
  nll?: NllSummary;
}

function toCallLike(calls: readonly ToolCall[]): CallLike[] {
  return calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments }));
}

/** Scores replies[i] against examples[i]. */
export async function scoreAnswers(
  examples: readonly EvalExample[],
  replies: readonly BackendReply[],
  o: ScoreOptions,
): Promise<ScoreResult> {
  const want = new Set(o.metrics);
  const metrics: Record<string, number> = { examples: examples.length };
  const out: ScoreResult = { metrics };
  // Text metrics cover examples whose reference is text; tool-call references are scored as calls.
  const textIdx = examples.map((e, i) => (e.referenceCalls.length === 0 ? i : -1)).filter((i) => i >= 0);
  const hyps = textIdx.map((i) => replies[i].text);
  const refs = textIdx.map((i) => [examples[i].referenceText]);
  metrics.text_examples = textIdx.length;
  if (textIdx.length) {
    if (want.has("bleu")) metrics.bleu = corpusBleu(hyps, refs).score;
    if (want.has("chrf")) metrics.chrf = corpusChrf(hyps, refs).score;
    if (want.has("rouge")) metrics.rouge_l = meanRougeL(hyps, refs);
    if (want.has("exact")) {
      metrics.exact_match = exactMatchRate(hyps, refs);
      metrics.exact_match_strict = strictMatchRate(hyps, refs);
    }
  }
  if (want.has("function-calling")) {
    const fc = functionCallingReport(
      examples.map((e, i) => ({
        reference: toCallLike(e.referenceCalls),
        predicted: replies[i].invalidToolCall ? null : toCallLike(replies[i].toolCalls),
      })),
    );
    out.functionCalling = fc;
    Object.assign(metrics, {
      call_examples: fc.callExamples,
      fc_valid_json: fc.validJsonRate,
      fc_tool_name_acc: fc.toolNameAccuracy,
      fc_args_exact: fc.argumentExactMatch,
      fc_precision: fc.precision,
      fc_recall: fc.recall,
      fc_f1: fc.f1,
      fc_no_call_acc: fc.noCallAccuracy,
    });
  }
  if (want.has("accuracy") && textIdx.length) {
    const labels = o.labels?.length ? [...o.labels] : [...new Set(refs.map((r) => r[0].trim()))];
    const report = classificationReport(
      hyps.map((h) => extractLabel(h, labels)),
      refs.map((r) => extractLabel(r[0], labels)),
    );
    out.classification = report;
    metrics.accuracy = report.accuracy;
    metrics.macro_f1 = report.macroF1;
  }
  if (want.has("syntax")) {
    if (!o.validator)
      throw new InputError('metric "syntax" needs a validator (--validator)', { field: "validator" });
    let ok = 0;
    for (const r of replies) if (await o.validator(r.text)) ok++;
    metrics.syntax_valid = replies.length ? ok / replies.length : NaN;
  }
  if (want.has("nll") && o.referenceLogProbs) {
    const all: number[] = [];
    for (const lp of o.referenceLogProbs) if (lp) all.push(...lp);
    if (all.length) {
      out.nll = nllSummary(all);
      metrics.nll = out.nll.meanNll;
      metrics.perplexity = out.nll.perplexity;
    }
  }
  if (want.has("latency")) {
    const l = latencySummary(
      replies.map((r) => ({
        latencyMs: r.latencyMs,
        completionTokens: r.completionTokens,
        firstTokenMs: r.firstTokenMs,
      })),
    );
    out.latency = l;
    Object.assign(metrics, {
      latency_p50_ms: l.p50Ms,
      latency_p95_ms: l.p95Ms,
      latency_mean_ms: l.meanMs,
      tokens_per_s: l.tokensPerSecond,
      ...(Number.isFinite(l.firstTokenP50Ms) ? { first_token_p50_ms: l.firstTokenP50Ms } : {}),
    });
  }
  return out;
}
