// `eval report`: the comparison table of saved eval runs (metrics as rows, runs as columns, the first
// run as the baseline other columns are compared with), with optional pass/fail targets
// (e.g. SciX's syntax_valid >= 0.95, latency_p50_ms <= 100).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../util/errors.js";
import type { EvalRunResult } from "./run.js";
import { groupedBarFigure, type PlotlyFigure } from "./plots.js";

/** A saved run and where it was found. */
export interface LoadedRun {
  file: string;
  result: EvalRunResult;
}

function readRun(file: string): LoadedRun {
  let result: EvalRunResult;
  try {
    result = JSON.parse(readFileSync(file, "utf8")) as EvalRunResult;
  } catch (err) {
    throw new InputError(`not a readable eval result: ${(err as Error).message}`, { file });
  }
  if (result?.kind !== "tunekit-eval")
    throw new InputError('not an eval result (kind is not "tunekit-eval")', { file });
  return { file, result };
}

function findRuns(dir: string, depth: number): string[] {
  const direct = join(dir, "eval.json");
  if (existsSync(direct)) return [direct];
  if (depth === 0) return [];
  return readdirSync(dir)
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isDirectory())
    .flatMap((p) => findRuns(p, depth - 1));
}

/** Loads runs from eval.json files, run folders, or folders holding run folders (searched 3 levels deep). */
export function loadEvalRuns(paths: readonly string[]): LoadedRun[] {
  const files: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new InputError("no such file or folder", { file: p });
    files.push(...(statSync(p).isDirectory() ? findRuns(p, 3) : [p]));
  }
  if (files.length === 0) throw new InputError(`no eval.json found under ${paths.join(", ")}`);
  return files.map(readRun);
}

/** A pass/fail target on one metric. */
export interface MetricTarget {
  metric: string;
  op: ">=" | "<=" | ">" | "<";
  value: number;
}

/** Parses "syntax_valid>=0.95". */
export function parseTarget(text: string): MetricTarget {
  const m = /^\s*([\w.]+)\s*(>=|<=|>|<)\s*(-?[\d.]+(?:e-?\d+)?)\s*$/i.exec(text);
  if (!m) throw new InputError(`target "${text}" must look like metric>=value`, { field: "target" });
  return { metric: m[1], op: m[2] as MetricTarget["op"], value: Number(m[3]) };
}

function meets(v: number, t: MetricTarget): boolean {
  return t.op === ">="
    ? v >= t.value
    : t.op === "<="
      ? v <= t.value
      : t.op === ">"
        ? v > t.value
        : v < t.value;
}

/** Display order and formatting of known metrics; unknown ones follow alphabetically. */
const FORMATS: Array<[string, (v: number) => string]> = [
  ["examples", (v) => String(v)],
  ["bleu", (v) => v.toFixed(2)],
  ["chrf", (v) => v.toFixed(2)],
  ["rouge_l", (v) => v.toFixed(4)],
  ["exact_match", pct],
  ["exact_match_strict", pct],
  ["accuracy", pct],
  ["macro_f1", (v) => v.toFixed(4)],
  ["syntax_valid", pct],
  ["fc_valid_json", pct],
  ["fc_tool_name_acc", pct],
  ["fc_args_exact", pct],
  ["fc_precision", pct],
  ["fc_recall", pct],
  ["fc_f1", pct],
  ["fc_no_call_acc", pct],
  ["nll", (v) => v.toFixed(4)],
  ["perplexity", (v) => v.toFixed(3)],
  ["latency_p50_ms", (v) => v.toFixed(0)],
  ["latency_p95_ms", (v) => v.toFixed(0)],
  ["first_token_p50_ms", (v) => v.toFixed(0)],
  ["tokens_per_s", (v) => v.toFixed(1)],
];
const SKIP = new Set(["text_examples", "call_examples", "latency_mean_ms"]);

function pct(v: number): string {
  return `${(100 * v).toFixed(1)}%`;
}

function format(metric: string, v: number | undefined): string {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  const f = FORMATS.find(([k]) => k === metric)?.[1];
  return f ? f(v) : Number.isInteger(v) ? String(v) : v.toFixed(4);
}

/** The report as data: one row per metric with each run's value and pass/fail against targets. */
export interface ReportTable {
  runs: Array<{ name: string; file: string; backend: string }>;
  rows: Array<{ metric: string; values: Array<number | null>; target?: string; pass?: boolean[] }>;
}

/** Builds the comparison table. */
export function buildReport(runs: readonly LoadedRun[], targets: readonly MetricTarget[] = []): ReportTable {
  const names = new Set<string>();
  for (const r of runs) for (const k of Object.keys(r.result.metrics)) if (!SKIP.has(k)) names.add(k);
  const known = FORMATS.map(([k]) => k).filter((k) => names.has(k));
  const rest = [...names].filter((k) => !known.includes(k)).sort();
  return {
    runs: runs.map((r) => ({
      name: r.result.name,
      file: r.file,
      backend:
        r.result.backend.kind === "endpoint"
          ? `${String(r.result.backend.endpoint)} ${String(r.result.backend.model)}`
          : String(r.result.backend.model),
    })),
    rows: [...known, ...rest].map((metric) => {
      const values = runs.map((r) =>
        typeof r.result.metrics[metric] === "number" ? r.result.metrics[metric] : null,
      );
      const t = targets.find((x) => x.metric === metric);
      return {
        metric,
        values,
        ...(t ? { target: `${t.op} ${t.value}`, pass: values.map((v) => v !== null && meets(v, t)) } : {}),
      };
    }),
  };
}

/** Renders the table as aligned text; columns after the first show the change from the first run. */
export function formatReport(table: ReportTable): string {
  const header = ["metric", ...table.runs.map((r) => r.name)];
  const hasTargets = table.rows.some((r) => r.target);
  if (hasTargets) header.push("target");
  const lines = table.rows.map((row) => {
    const cells = row.values.map((v, i) => {
      let cell = format(row.metric, v ?? undefined);
      const base = row.values[0];
      if (i > 0 && v !== null && base !== null && row.metric !== "examples") {
        const d = v - base;
        if (d !== 0) cell += ` (${d > 0 ? "+" : "−"}${format(row.metric, Math.abs(d))})`;
      }
      if (row.pass) cell += row.pass[i] ? " ✓" : " ✗";
      return cell;
    });
    return [row.metric, ...cells, ...(hasTargets ? [row.target ?? ""] : [])];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const legend = table.runs.map((r, i) => `  [${i + 1}] ${r.name}: ${r.backend} (${r.file})`).join("\n");
  return [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt), "", "runs:", legend].join(
    "\n",
  );
}

/** Grouped bar charts of a report: quality rates (0–1) in one figure, latency in another. */
export function reportFigures(table: ReportTable): Record<string, PlotlyFigure> {
  const pick = (keep: (m: string) => boolean) =>
    table.rows.filter((r) => keep(r.metric) && r.values.some((v) => v !== null));
  const rates = pick((m) => /^(exact_match|accuracy|syntax_valid|fc_|rouge_l|macro_f1)/.test(m));
  const scores = pick((m) => m === "bleu" || m === "chrf");
  const latency = pick((m) => m.endsWith("_ms"));
  const series = (rows: ReportTable["rows"]) =>
    table.runs.map((run, i) => ({ name: run.name, values: rows.map((r) => r.values[i]) }));
  const figures: Record<string, PlotlyFigure> = {};
  if (rates.length)
    figures.rates = groupedBarFigure(
      "Rates (0–1)",
      rates.map((r) => r.metric),
      series(rates),
    );
  if (scores.length)
    figures.scores = groupedBarFigure(
      "BLEU / chrF (0–100)",
      scores.map((r) => r.metric),
      series(scores),
    );
  if (latency.length)
    figures.latency = groupedBarFigure(
      "Latency (ms)",
      latency.map((r) => r.metric),
      series(latency),
    );
  return figures;
}
