// `compare`: the same held-out text and prompts through several models — base vs base + adapter
// (before/after), or one model across quantized GGUF files. Per model: file size, NLL/perplexity,
// KL divergence from the first (reference) model, agreement of greedy answers with the reference,
// decode speed, and task metrics against the eval set's references. A table plus plotly figures.
import { statSync } from "node:fs";
import { basename } from "node:path";
import type { Token } from "node-llama-cpp";
import { loadModel, type LoadedModel } from "../infer/model.js";
import { nextTokenLogits, textWindows } from "../infer/scoring.js";
import { InputError } from "../util/errors.js";
import { modelBackend, type AnswerSettings, type BackendReply } from "./backends.js";
import { readEvalSet, type EvalExample } from "./dataset.js";
import { klFromLogits, logSoftmax, nllSummary, percentile } from "./metrics/index.js";
import { barFigure, type PlotlyFigure } from "./plots.js";
import { answerAll } from "./run.js";
import { defaultMetrics, scoreAnswers, type MetricName } from "./score.js";

/** One model in a comparison. */
export interface CompareEntry {
  /** GGUF model file. */
  model: string;
  /** LoRA adapter GGUF applied to it. */
  adapter?: string;
  /** Adapter scale. Default 1. */
  adapterScale?: number;
  /** Name in the table. Default: file name(s). */
  label?: string;
}

/** Options of {@link compareModels}. */
export interface CompareOptions {
  /** Models; the first is the reference for KL and agreement. */
  entries: CompareEntry[];
  /** Held-out text for NLL/perplexity and KL. */
  text?: string;
  /** Score at most this many tokens of the text. Default 512. */
  maxEvalTokens?: number;
  /** Tokens per scoring window (each starts with BOS). Default 128. */
  windowTokens?: number;
  /** Eval set (messages JSONL): its prompts are answered greedily by every model and scored against its references. */
  data?: string;
  /** Use only the first N eval examples. */
  limit?: number;
  /** Most tokens per greedy answer. Default 64. */
  maxTokens?: number;
  /** Task metrics on the eval set. Default: chosen from the data. */
  metrics?: MetricName[];
  /** Context length and CPU threads for every model. */
  contextSize?: number;
  threads?: number;
  /** Progress messages. */
  onProgress?: (message: string) => void;
}

/** One row of the comparison. */
export interface CompareRow {
  label: string;
  model: string;
  adapter?: string;
  /** Model file plus adapter file, bytes. */
  fileBytes: number;
  /** Mean NLL (nats/token) and perplexity on the held-out text. */
  nll?: number;
  perplexity?: number;
  /** KL(reference ‖ this) per token, nats: mean, 99th percentile, max; fraction of positions with the same top token. */
  klMean?: number;
  klP99?: number;
  klMax?: number;
  sameTop?: number;
  /** Fraction of prompts whose greedy answer equals the reference model's answer exactly. */
  greedyAgreement?: number;
  /** Mean fraction of the reference answer's leading tokens reproduced before the first difference. */
  tokenAgreement?: number;
  /** Generated tokens per second after the first token (median over prompts). */
  decodeTokensPerSecond?: number;
  /** Median time to first token, ms. */
  firstTokenMsP50?: number;
  /** Task metrics against the eval set's references (same keys as `eval`). */
  metrics?: Record<string, number>;
}

/** Result of {@link compareModels}. */
export interface CompareResult {
  kind: "tunekit-compare";
  createdAt: string;
  reference: string;
  textTokens?: number;
  prompts?: number;
  rows: CompareRow[];
  figures: Record<string, PlotlyFigure>;
}

function labelOf(e: CompareEntry): string {
  if (e.label) return e.label;
  const m = basename(e.model).replace(/\.gguf$/i, "");
  return e.adapter ? `${m} + ${basename(e.adapter).replace(/\.gguf$/i, "")}` : m;
}

function bytesOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    throw new InputError("file not found", { file: path });
  }
}

/** Log-softmax rows of each window under one model. */
async function windowLogProbs(m: LoadedModel, windows: Token[][]): Promise<Float32Array[][]> {
  const out: Float32Array[][] = [];
  for (const w of windows) {
    const rows = await m.exclusive(() => nextTokenLogits(m, w.slice(0, -1)));
    // Stored as float32: the reference rows of the whole text stay in memory (tokens × vocabulary).
    out.push(rows.map((r) => Float32Array.from(logSoftmax(r))));
  }
  return out;
}

function nllOf(windows: Token[][], lsm: Float32Array[][]) {
  const lp: number[] = [];
  windows.forEach((w, k) => lsm[k].forEach((row, i) => lp.push(row[w[i + 1]])));
  return nllSummary(lp);
}

function klOf(ref: Float32Array[][], test: Float32Array[][]) {
  const kls: number[] = [];
  let same = 0;
  ref.forEach((rows, k) =>
    rows.forEach((r, i) => {
      kls.push(klFromLogits(r, test[k][i]));
      if (argmax(r) === argmax(test[k][i])) same++;
    }),
  );
  const sorted = [...kls].sort((a, b) => a - b);
  return {
    klMean: kls.reduce((s, v) => s + v, 0) / kls.length,
    klP99: percentile(sorted, 99),
    klMax: sorted[sorted.length - 1],
    sameTop: same / kls.length,
  };
}

function argmax(a: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
}

function median(values: number[]): number | undefined {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? percentile(v, 50) : undefined;
}

/** Runs the comparison. Models are loaded one at a time next to the reference. */
export async function compareModels(o: CompareOptions): Promise<CompareResult> {
  if (o.entries.length < 2)
    throw new InputError("compare needs at least two models (or a model and an adapter)", { field: "model" });
  if (!o.text && !o.data)
    throw new InputError("compare needs held-out text (--text) and/or an eval set (--data)", {
      field: "text",
    });
  const examples: EvalExample[] | undefined = o.data
    ? readEvalSet(o.data).slice(0, o.limit ?? Infinity)
    : undefined;
  const settings: AnswerSettings = { maxTokens: o.maxTokens ?? 64, temperature: 0, toolChoice: "auto" };
  const metrics = examples
    ? (o.metrics ?? defaultMetrics(examples, { local: false, validator: false, labels: false }))
    : [];
  const load = (e: CompareEntry) =>
    loadModel({
      modelPath: e.model,
      ...(e.adapter ? { adapterPath: e.adapter, adapterScale: e.adapterScale } : {}),
      ...(o.contextSize ? { contextSize: o.contextSize } : {}),
      ...(o.threads ? { threads: o.threads } : {}),
    });
  const progress = o.onProgress ?? (() => undefined);
  const rows: CompareRow[] = [];
  let textTokens = 0;
  const reference = await load(o.entries[0]);
  try {
    const windows = o.text
      ? textWindows(reference, o.text, {
          windowTokens: o.windowTokens ?? 128,
          maxTokens: o.maxEvalTokens ?? 512,
        })
      : [];
    if (o.text && windows.length === 0)
      throw new InputError("the held-out text is too short to score", { field: "text" });
    textTokens = windows.reduce((s, w) => s + w.length - 1, 0);
    let refRows: Float32Array[][] | undefined;
    let refAnswers: BackendReply[] | undefined;
    for (let i = 0; i < o.entries.length; i++) {
      const e = o.entries[i];
      const label = labelOf(e);
      progress(`${label}: loading`);
      const m = i === 0 ? reference : await load(e);
      try {
        if (m.info.vocabSize !== reference.info.vocabSize)
          throw new InputError(
            `${label} has a different vocabulary (${m.info.vocabSize} vs ${reference.info.vocabSize} tokens): KL and agreement need the same tokenizer`,
          );
        const row: CompareRow = {
          label,
          model: e.model,
          ...(e.adapter ? { adapter: e.adapter } : {}),
          fileBytes: bytesOf(e.model) + (e.adapter ? bytesOf(e.adapter) : 0),
        };
        if (windows.length) {
          progress(`${label}: scoring ${textTokens} tokens`);
          const lsm = await windowLogProbs(m, windows);
          const nll = nllOf(windows, lsm);
          row.nll = nll.meanNll;
          row.perplexity = nll.perplexity;
          if (i === 0) {
            refRows = lsm;
            Object.assign(row, { klMean: 0, klP99: 0, klMax: 0, sameTop: 1 });
          } else Object.assign(row, klOf(refRows!, lsm));
        }
        if (examples) {
          progress(`${label}: answering ${examples.length} prompts`);
          const answers = await answerAll(modelBackend(m), examples, settings);
          if (i === 0) refAnswers = answers;
          const same = answers.filter(
            (a, k) =>
              a.text === refAnswers![k].text &&
              JSON.stringify(a.toolCalls.map((c) => c.function)) ===
                JSON.stringify(refAnswers![k].toolCalls.map((c) => c.function)),
          );
          row.greedyAgreement = same.length / answers.length;
          row.tokenAgreement =
            answers.reduce((s, a, k) => {
              const r = m.tokenize(refAnswers![k].text, false);
              const t = m.tokenize(a.text, false);
              let n = 0;
              while (n < r.length && r[n] === t[n]) n++;
              return s + (r.length ? n / r.length : t.length === 0 ? 1 : 0);
            }, 0) / answers.length;
          row.decodeTokensPerSecond = median(answers.map((a) => a.decodeTokensPerSecond ?? NaN));
          row.firstTokenMsP50 = median(answers.map((a) => a.firstTokenMs ?? NaN));
          row.metrics = (
            await scoreAnswers(examples, answers, {
              metrics: metrics.filter((x) => x !== "nll" && x !== "syntax"),
            })
          ).metrics;
        }
        rows.push(row);
      } finally {
        if (i !== 0) await m.dispose();
      }
    }
  } finally {
    await reference.dispose();
  }
  const labels = rows.map((r) => r.label);
  const figures: Record<string, PlotlyFigure> = {
    size: barFigure(
      "File size",
      labels,
      rows.map((r) => r.fileBytes / 1e6),
      "MB",
    ),
  };
  if (o.text) {
    figures.perplexity = barFigure(
      "Perplexity on held-out text",
      labels,
      rows.map((r) => r.perplexity),
      "perplexity",
    );
    figures.kl = barFigure(
      `Mean KL divergence from ${rows[0].label}`,
      labels,
      rows.map((r) => r.klMean),
      "nats/token",
    );
  }
  if (examples) {
    figures.agreement = barFigure(
      `Greedy answers identical to ${rows[0].label}`,
      labels,
      rows.map((r) => r.greedyAgreement),
      "fraction",
    );
    figures.speed = barFigure(
      "Decode speed",
      labels,
      rows.map((r) => r.decodeTokensPerSecond),
      "tokens/s",
    );
  }
  return {
    kind: "tunekit-compare",
    createdAt: new Date().toISOString(),
    reference: rows[0].label,
    ...(o.text ? { textTokens } : {}),
    ...(examples ? { prompts: examples.length } : {}),
    rows,
    figures,
  };
}

/** The comparison as an aligned text table. */
export function formatCompareTable(result: CompareResult): string {
  const taskKeys = [...new Set(result.rows.flatMap((r) => Object.keys(r.metrics ?? {})))].filter((k) =>
    ["bleu", "chrf", "rouge_l", "exact_match", "fc_f1", "fc_args_exact"].includes(k),
  );
  const cols: Array<[string, (r: CompareRow) => string]> = [
    ["model", (r) => r.label],
    ["size MB", (r) => (r.fileBytes / 1e6).toFixed(2)],
    ["NLL", (r) => fmt(r.nll, 4)],
    ["PPL", (r) => fmt(r.perplexity, 3)],
    ["KL mean", (r) => fmt(r.klMean, 5)],
    ["KL p99", (r) => fmt(r.klP99, 5)],
    ["same top", (r) => pct(r.sameTop)],
    ["greedy =", (r) => pct(r.greedyAgreement)],
    ["tok agree", (r) => pct(r.tokenAgreement)],
    ["tok/s", (r) => fmt(r.decodeTokensPerSecond, 1)],
    ...taskKeys.map((k): [string, (r: CompareRow) => string] => [
      k,
      (r) => fmt(r.metrics?.[k], k === "bleu" || k === "chrf" ? 2 : 4),
    ]),
  ];
  const used = cols.filter(([, f]) => result.rows.some((r) => f(r) !== "–"));
  const cells = result.rows.map((r) => used.map(([, f]) => f(r)));
  const widths = used.map(([h], c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  const line = (xs: string[]) =>
    xs.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ");
  return [
    line(used.map(([h]) => h)),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
    "",
    `KL and agreement are relative to ${result.reference}.`,
  ].join("\n");
}

function fmt(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
}

function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "–" : `${(100 * v).toFixed(1)}%`;
}
