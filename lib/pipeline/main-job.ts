// The main job (`npm start`, `tunekit quickstart`): the whole pipeline on the embedded default — or on a
// user's recipe — in one call: prepare data → LoRA fine-tune → merge → quantize → before/after
// evaluation → report.json + report.md naming every file it wrote.
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { prepareDataset } from "../data/prepare.js";
import { mergeAdapter } from "../export/merge.js";
import { quantizeModel } from "../export/quantize.js";
import { runEval, type PredictionRecord } from "../eval/run.js";
import { readEvalSet } from "../eval/dataset.js";
import { resolveTrainConfig, type TrainConfig } from "../train/config.js";
import { train, type EvalLogRow, type TrainLogRow } from "../train/trainer.js";
import { writeFileAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";
import { defaultModelPath } from "./default-model.js";

/** Options of {@link runMainJob}. */
export interface MainJobOptions {
  /** Folder for everything the job writes (data/, train/, models/, eval, report.*). */
  out: string;
  /**
   * A recipe (training config JSON, e.g. recipes/x.json) whose model, data and eval data are used as they
   * are (data must be prepared: messages or {"text"} JSONL). Default: the embedded default model with the
   * Spanish coffee Q&A sample, prepared here.
   */
  recipe?: string;
  /** Training settings on top of the recipe or the built-in quick settings (e.g. {maxSteps: 2} in tests). */
  trainOverrides?: Record<string, unknown>;
  /** llama.cpp file types to quantize the merged model to. Default Q8_0, Q4_0, Q4_K_M. */
  quantTypes?: string[];
  /** Eval examples answered by every model (greedy) for BLEU/ROUGE-L/chrF. Default: all of the eval split. */
  evalLimit?: number;
  /** Most tokens per generated answer. Default 96. */
  maxTokens?: number;
  /** Generated answers shown in the report, before and after. Default 2. */
  samples?: number;
  /** CPU threads for llama.cpp during evaluation. Default: the policy of lib/engine/threads.ts (1 for small models). */
  evalThreads?: number;
  /** Progress messages (one line each). */
  onProgress?: (message: string) => void;
}

/** One GGUF the job wrote (or used). */
export interface JobFile {
  /** What it is: "base", "adapter", "merged F16", "Q8_0", … */
  label: string;
  path: string;
  bytes: number;
}

/** One evaluated model file. */
export interface EvalRow {
  label: string;
  path: string;
  bytes: number;
  /** runEval's metrics: nll, perplexity, bleu, chrf, rouge_l, exact_match, tokens_per_s, … */
  metrics: Record<string, number>;
  evalDir: string;
}

/** report.json. */
export interface MainJobReport {
  kind: "tunekit-main-job";
  version: 1;
  createdAt: string;
  /** The recipe file, or "built-in quick settings on the embedded default". */
  recipe: string;
  out: string;
  data: { train: string; eval?: string; trainRecords: number; evalRecords: number };
  training: {
    runDir: string;
    method: string;
    steps: number;
    loraR: number;
    loraAlpha: number;
    target: string;
    quantizeBase: string;
    lr: number;
    finalTrainLoss: number;
    /** Mean NLL per target (assistant) token on the eval split with tunekit's engine, before and after. */
    evalLossBefore: number | null;
    evalLossAfter: number | null;
    perplexityBefore: number | null;
    perplexityAfter: number | null;
    tokensPerSecond: number;
    seconds: number;
  };
  files: JobFile[];
  /**
   * Per model file, evaluated in llama.cpp on the held-out split: NLL/perplexity of the reference answers
   * given their prompts (the eval loss, recomputed by llama.cpp for each GGUF) and BLEU / ROUGE-L / chrF /
   * exact match of greedy answers; the full runs are in evalDir (eval.json + predictions.jsonl).
   */
  comparison: EvalRow[];
  /** Greedy answers to the first eval prompts, before (base) and after (merged). */
  samples: Array<{ prompt: string; reference: string; before: string; after: string }>;
  /** Seconds per stage. */
  seconds: Record<string, number>;
  notes: string[];
}

/** The quick settings `npm start` trains with on the embedded default (a 1–3 minute LoRA run on 2 cores). */
export const QUICK_TRAIN_SETTINGS = {
  method: "lora",
  loraR: 16,
  loraAlpha: 32,
  loraDropout: 0.05,
  target: "all-linear",
  // more epochs overfit the 56 pairs: the held-out eval loss is lowest after about 3
  epochs: 3,
  batch: 4,
  gradAccum: 1,
  maxSeq: 256,
  lr: 2e-3,
  scheduler: "cosine",
  warmup: 0.1,
  evalEvery: 7,
  keepBest: 1,
  seed: 42,
} as const;

const DEFAULT_QUANTS = ["Q8_0", "Q4_0", "Q4_K_M"];

const rel = (p: string) => relative(process.cwd(), p) || ".";
const sizeOf = (p: string) => statSync(p).size;

/** Runs the whole pipeline; writes report.json and report.md into `out` and returns the report. */
export async function runMainJob(o: MainJobOptions): Promise<MainJobReport> {
  const out = resolve(o.out);
  mkdirSync(out, { recursive: true });
  const say = o.onProgress ?? (() => undefined);
  const seconds: Record<string, number> = {};
  const notes: string[] = [];
  const timed = async <T>(stage: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      seconds[stage] = (performance.now() - t) / 1000;
    }
  };
  const jobStart = performance.now();

  // 1. data
  let cfg: TrainConfig;
  if (o.recipe) {
    cfg = resolveTrainConfig(o.recipe, { ...o.trainOverrides, out: join(out, "train") });
  } else {
    const dataDir = join(out, "data");
    say("data: preparing the Spanish coffee Q&A sample");
    await timed("data", () =>
      prepareDataset({
        format: "qa",
        input: join(PACKAGE_ROOT, "data", "coffee-qa.jsonl"),
        outDir: dataDir,
        seed: 42,
        evalFraction: 0.1,
      }),
    );
    cfg = resolveTrainConfig(undefined, {
      ...QUICK_TRAIN_SETTINGS,
      model: defaultModelPath(),
      data: join(dataDir, "train.jsonl"),
      evalData: join(dataDir, "eval.jsonl"),
      ...o.trainOverrides,
      out: join(out, "train"),
    });
  }
  const countLines = (p: string) =>
    readFileSync(p, "utf8")
      .split("\n")
      .filter((l) => l.trim()).length;
  const data = {
    train: cfg.data,
    ...(cfg.evalData ? { eval: cfg.evalData } : {}),
    trainRecords: countLines(cfg.data),
    evalRecords: cfg.evalData ? countLines(cfg.evalData) : 0,
  };
  if (!cfg.evalData) notes.push("the recipe has no evalData: no eval loss and no answer metrics");

  // 2. LoRA fine-tune
  if (cfg.method !== "lora")
    throw new InputError(`the main job fine-tunes with LoRA; the recipe says method "${cfg.method}"`, {
      file: o.recipe,
      field: "method",
    });
  let lastTps = 0;
  const trained = await timed("train", () =>
    train(cfg, {
      onStart: (s) =>
        say(`train: ${s.totalSteps} steps on ${s.trainRows} rows, ${s.parameters} LoRA parameters`),
      onLog: (r: TrainLogRow) => {
        lastTps = r.tokens_per_s;
        if (r.step % 5 === 0)
          say(`train: step ${r.step}, loss ${r.loss.toFixed(3)}, ${r.tokens_per_s.toFixed(0)} tokens/s`);
      },
      onEval: (e: EvalLogRow) => say(`train: step ${e.step}, eval loss ${e.eval_loss.toFixed(3)}`),
    }),
  );

  // 3. merge, 4. quantize
  const models = join(out, "models");
  mkdirSync(models, { recursive: true });
  const files: JobFile[] = [
    { label: "base", path: cfg.model, bytes: sizeOf(cfg.model) },
    { label: "adapter", path: trained.adapterPath, bytes: sizeOf(trained.adapterPath) },
  ];
  const merged = join(models, "merged-f16.gguf");
  say("merge: adapter → merged-f16.gguf");
  await timed("merge", () =>
    mergeAdapter({ model: cfg.model, adapter: trained.adapterPath, out: merged, type: "f16" }),
  );
  files.push({ label: "merged F16", path: merged, bytes: sizeOf(merged) });
  await timed("quantize", async () => {
    for (const type of o.quantTypes ?? DEFAULT_QUANTS) {
      const path = join(models, `merged-${type}.gguf`);
      say(`quantize: ${type}`);
      const q = await quantizeModel({ in: merged, out: path, type });
      files.push({ label: type, path, bytes: q.outBytes });
      if (q.fallbacks > 0)
        notes.push(
          `${type}: ${q.fallbacks} tensor${q.fallbacks === 1 ? "" : "s"} used llama.cpp's fallback type (rows not a whole number of ${type}'s blocks)`,
        );
    }
  });

  // 5. before/after evaluation in llama.cpp: every model file on the held-out split
  const comparison: EvalRow[] = [];
  const samples: MainJobReport["samples"] = [];
  if (cfg.evalData) {
    const evalData = cfg.evalData;
    const predictions = new Map<string, PredictionRecord[]>();
    await timed("evaluate", async () => {
      for (const f of files.filter((x) => x.label !== "adapter")) {
        say(`evaluate: ${f.label}`);
        const evalDir = join(out, "eval", f.label.replace(/\s+/g, "-").toLowerCase());
        const r = await runEval({
          data: evalData,
          model: f.path,
          name: f.label,
          metrics: ["nll", "bleu", "chrf", "rouge", "exact", "latency"],
          maxTokens: o.maxTokens ?? 96,
          ...(o.evalThreads !== undefined ? { threads: o.evalThreads } : {}),
          ...(o.evalLimit !== undefined ? { limit: o.evalLimit } : {}),
          out: evalDir,
        });
        comparison.push({ label: f.label, path: f.path, bytes: f.bytes, metrics: r.result.metrics, evalDir });
        predictions.set(f.label, r.predictions);
      }
    });
    const examples = readEvalSet(evalData);
    const before = predictions.get("base") ?? [];
    const after = predictions.get("merged F16") ?? [];
    for (let i = 0; i < Math.min(o.samples ?? 2, before.length, after.length); i++) {
      const ex = examples.find((e) => e.line === before[i].line);
      samples.push({
        prompt: (ex?.prompt ?? [])
          .filter((m) => m.role === "user")
          .map((m) => (typeof m.content === "string" ? m.content : ""))
          .join("\n"),
        reference: before[i].reference.text,
        before: before[i].prediction.text,
        after: after[i].prediction.text,
      });
    }
  }
  seconds.total = (performance.now() - jobStart) / 1000;

  const report: MainJobReport = {
    kind: "tunekit-main-job",
    version: 1,
    createdAt: new Date().toISOString(),
    recipe: o.recipe ?? "built-in quick settings on the embedded default",
    out,
    data,
    training: {
      runDir: trained.runDir,
      method: cfg.method,
      steps: trained.steps,
      loraR: cfg.loraR,
      loraAlpha: cfg.loraAlpha,
      target: cfg.target,
      quantizeBase: cfg.quantizeBase,
      lr: cfg.lr,
      finalTrainLoss: trained.finalLoss,
      evalLossBefore: trained.baseEvalLoss,
      evalLossAfter: trained.finalEvalLoss,
      perplexityBefore: trained.baseEvalLoss === null ? null : Math.exp(trained.baseEvalLoss),
      perplexityAfter: trained.finalEvalLoss === null ? null : Math.exp(trained.finalEvalLoss),
      tokensPerSecond: lastTps,
      seconds: seconds.train,
    },
    files,
    comparison,
    samples,
    seconds,
    notes,
  };
  writeFileAtomic(join(out, "report.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileAtomic(join(out, "report.md"), formatMainJobReport(report));
  return report;
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined ? "–" : x.toFixed(3));
const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** report.md: the short human-readable report (also what the CLI prints). */
export function formatMainJobReport(r: MainJobReport): string {
  const t = r.training;
  const metric = (row: EvalRow, k: string, digits = 2) => {
    const v = row.metrics[k];
    return v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
  };
  const lines = [
    `# tunekit main job`,
    ``,
    `${r.recipe}; ${r.data.trainRecords} train / ${r.data.evalRecords} eval records (${rel(r.data.train)}).`,
    ``,
    `## Fine-tune (tunekit engine)`,
    ``,
    `LoRA r ${t.loraR}, alpha ${t.loraAlpha}, ${t.target}, base held as ${t.quantizeBase}; ${t.steps} steps at lr ${t.lr} in ${t.seconds.toFixed(0)} s (${t.tokensPerSecond.toFixed(0)} tokens/s).`,
    `Eval loss on the held-out split (assistant tokens): ${f3(t.evalLossBefore)} → ${f3(t.evalLossAfter)} nats/token, perplexity ${f3(t.perplexityBefore)} → ${f3(t.perplexityAfter)}.`,
    ``,
  ];
  if (r.comparison.length) {
    lines.push(
      `## Before/after and quantization (llama.cpp, held-out split)`,
      ``,
      `Eval loss = NLL of the reference answers given their prompts; answers are greedy.`,
      ``,
      `| model | size | eval loss | perplexity | BLEU | ROUGE-L | chrF | tokens/s |`,
      `| --- | --- | --- | --- | --- | --- | --- | --- |`,
      ...r.comparison.map(
        (row) =>
          `| ${row.label} | ${mib(row.bytes)} | ${metric(row, "nll", 3)} | ${metric(row, "perplexity", 1)} | ${metric(row, "bleu")} | ${metric(row, "rouge_l", 3)} | ${metric(row, "chrf")} | ${metric(row, "tokens_per_s", 0)} |`,
      ),
      ``,
    );
  }
  if (r.samples.length) {
    lines.push(`## Answers (greedy)`, ``);
    for (const s of r.samples)
      lines.push(
        `**Prompt:** ${s.prompt}`,
        ``,
        `- reference: ${s.reference}`,
        `- before: ${s.before.trim() || "(empty)"}`,
        `- after: ${s.after.trim() || "(empty)"}`,
        ``,
      );
  }
  lines.push(`## Files`, ``, ...r.files.map((f) => `- ${f.label}: ${rel(f.path)} (${mib(f.bytes)})`));
  lines.push(`- training run: ${rel(r.training.runDir)} (metrics.jsonl, checkpoints, PEFT adapter)`);
  if (r.comparison.length)
    lines.push(`- evaluations: ${rel(join(r.out, "eval"))}/<model>/ (eval.json, predictions.jsonl)`);
  lines.push(`- this report: ${rel(join(r.out, "report.md"))} and report.json`, ``);
  const stages = Object.entries(r.seconds)
    .map(([k, v]) => `${k} ${v.toFixed(0)} s`)
    .join(", ");
  lines.push(`Time: ${stages}.`);
  if (r.notes.length) lines.push(``, ...r.notes.map((n) => `Note: ${n}.`));
  return lines.join("\n") + "\n";
}
