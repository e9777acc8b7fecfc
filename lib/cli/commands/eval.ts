// `tunekit eval …`, `tunekit eval report …`, `tunekit compare …`: thin callers of lib/eval.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import {
  compareModels,
  formatCompareTable,
  type CompareEntry,
  type CompareResult,
} from "../../eval/compare.js";
import { figuresHtml } from "../../eval/plots.js";
import { buildReport, formatReport, loadEvalRuns, parseTarget, reportFigures } from "../../eval/report.js";
import { runEval, type EvalRunResult } from "../../eval/run.js";
import { confusionMatrixFigure } from "../../eval/plots.js";
import { confusionTable, evalImageQuestionsFromFiles } from "../../multimodal/image-eval.js";
import { parseMetricList } from "../../eval/score.js";
import { parseValidatorSpec } from "../../eval/metrics/syntax.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { action, emit, num, type CommonOptions } from "../output.js";

interface EvalOptions extends CommonOptions {
  model?: string;
  mmproj?: string;
  plot?: string;
  adapter?: string;
  adapterScale?: number;
  endpoint?: string;
  endpointModel?: string;
  data?: string;
  metrics?: string;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  toolChoice?: string;
  responseFormat?: string;
  validator?: string;
  labels?: string;
  limit?: number;
  out?: string;
  name?: string;
  context?: number;
  threads?: number;
}

interface ReportOptions extends CommonOptions {
  target?: string[];
  plot?: string;
}

interface CompareOptions extends CommonOptions {
  model: string[];
  adapter?: string;
  label?: string[];
  text?: string;
  data?: string;
  maxEvalTokens?: number;
  window?: number;
  limit?: number;
  maxTokens?: number;
  metrics?: string;
  out?: string;
  plot?: string;
  context?: number;
  threads?: number;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function parseLabels(text: string | undefined): string[] | undefined {
  if (!text) return undefined;
  if (text.startsWith("@"))
    return readFileSync(text.slice(1), "utf8")
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function parseResponseFormat(text: string | undefined): "json_object" | { schema: unknown } | undefined {
  if (!text) return undefined;
  if (text === "json") return "json_object";
  const file = text.startsWith("schema:") ? text.slice(7) : text;
  try {
    return { schema: JSON.parse(readFileSync(file, "utf8")) };
  } catch (err) {
    throw new InputError(`cannot read the JSON schema: ${(err as Error).message}`, {
      file,
      field: "response-format",
    });
  }
}

function progressLine(json: boolean | undefined) {
  return (done: number, total: number) => {
    if (!json && process.stderr.isTTY) process.stderr.write(`\r  ${done}/${total} examples`);
    if (!json && process.stderr.isTTY && done === total) process.stderr.write("\n");
  };
}

function renderEval(r: { result: EvalRunResult; dir?: string }): string {
  const lines = Object.entries(r.result.metrics).map(
    ([k, v]) => `  ${k.padEnd(20)} ${Number.isInteger(v) ? v : v.toFixed(4)}`,
  );
  return [
    `eval ${r.result.name} (${r.result.data.examples} examples, ${r.result.backend.kind})`,
    ...lines,
    ...(r.dir ? [`saved: ${join(r.dir, "eval.json")}`] : []),
  ].join("\n");
}

export function register(program: Command): void {
  const ev = program
    .command("eval")
    .description(
      "Evaluate a GGUF model (+ LoRA adapter) in llama.cpp, or an OpenAI-compatible endpoint, on a messages JSONL eval set",
    )
    .option("--model <file>", "GGUF model to evaluate")
    .option(
      "--mmproj <file>",
      "vision tower (mmproj GGUF): image-question eval on tunekit's engine — accuracy, per-class precision/recall, confusion matrix",
    )
    .option("--plot <file.html>", "with --mmproj: also write the confusion-matrix heatmap as an HTML page")
    .option("--adapter <file>", "LoRA adapter GGUF applied to --model")
    .option("--adapter-scale <x>", "adapter scale", num("--adapter-scale"))
    .option(
      "--endpoint <url>",
      "OpenAI-compatible base URL (…/v1) to evaluate instead; key from OPENAI_API_KEY",
    )
    .option("--endpoint-model <id>", "model id at the endpoint (default: its first listed model)")
    .option(
      "--data <file>",
      "eval set: messages JSONL, the last assistant turn of each line is the reference",
    )
    .option(
      "--metrics <list>",
      "bleu,chrf,rouge,exact,nll,function-calling,accuracy,syntax,latency (default: auto)",
    )
    .option("--max-tokens <n>", "most tokens per answer (default 256)", num("--max-tokens"))
    .option("--temperature <t>", "sampling temperature (default 0 = greedy)", num("--temperature"))
    .option("--seed <n>", "sampler seed", num("--seed"))
    .option(
      "--tool-choice <mode>",
      "auto (default) or required (grammar-forced tool calls where tools exist)",
    )
    .option(
      "--response-format <fmt>",
      "json (any JSON object) or schema:FILE.json (grammar-constrained text answers)",
    )
    .option(
      "--validator <spec>",
      "syntax validator: regex:PATTERN, schema:FILE.json or module:FILE.js (validate(text) → boolean)",
    )
    .option("--labels <list>", "classification labels (comma list or @file); enables the accuracy metric")
    .option("--limit <n>", "evaluate only the first N examples", num("--limit"))
    .option("--out <dir>", "run folder for eval.json and predictions.jsonl")
    .option("--name <name>", "run name in reports")
    .option("--context <n>", "context length of the local model", num("--context"))
    .option("--threads <n>", "CPU threads of the local model", num("--threads"))
    .option("--json", "one JSON document on stdout")
    .action(
      action(async (opts: EvalOptions) => {
        if (!opts.data) throw new InputError("--data is required", { field: "data" });
        if (opts.mmproj) {
          if (!opts.model) throw new InputError("--mmproj needs --model", { field: "model" });
          const r = await evalImageQuestionsFromFiles({
            model: opts.model,
            mmproj: opts.mmproj,
            adapter: opts.adapter,
            data: opts.data,
            labels: parseLabels(opts.labels),
            maxTokens: opts.maxTokens,
            limit: opts.limit,
            out: opts.out,
            name: opts.name,
            threads: opts.threads,
            onProgress: progressLine(opts.json),
          });
          if (opts.plot)
            writeFileAtomic(
              opts.plot,
              figuresHtml(`Image questions: ${r.result.name}`, { confusion: confusionMatrixFigure(r.report) }),
            );
          emit({ ...r.result, ...(r.dir ? { dir: r.dir } : {}) }, opts, () =>
            [`eval ${r.result.name} (${r.predictions.length} image questions)`, confusionTable(r.report), ...(r.dir ? [`saved: ${join(r.dir, "eval.json")}`] : [])].join("\n"),
          );
          return;
        }
        if (opts.toolChoice && opts.toolChoice !== "auto" && opts.toolChoice !== "required")
          throw new InputError("--tool-choice must be auto or required", { field: "tool-choice" });
        const r = await runEval({
          data: opts.data,
          model: opts.model,
          adapter: opts.adapter,
          adapterScale: opts.adapterScale,
          endpoint: opts.endpoint,
          endpointModel: opts.endpointModel,
          metrics: parseMetricList(opts.metrics),
          maxTokens: opts.maxTokens,
          temperature: opts.temperature,
          seed: opts.seed,
          toolChoice: opts.toolChoice as "auto" | "required" | undefined,
          responseFormat: parseResponseFormat(opts.responseFormat),
          validator: opts.validator ? parseValidatorSpec(opts.validator) : undefined,
          labels: parseLabels(opts.labels),
          limit: opts.limit,
          out: opts.out,
          name: opts.name,
          contextSize: opts.context,
          threads: opts.threads,
          onProgress: progressLine(opts.json),
        });
        emit({ ...r.result, ...(r.dir ? { dir: r.dir } : {}) }, opts, () => renderEval(r));
      }),
    );

  ev.command("report")
    .description("Print the comparison table of saved eval runs (eval.json files or folders holding them)")
    .argument("<paths...>", "eval.json files, run folders, or folders of run folders")
    .option("--target <expr>", "pass/fail target, e.g. syntax_valid>=0.95 (repeatable)", collect)
    .option("--plot <file.html>", "also write the plotly figures as an HTML page")
    .option("--json", "one JSON document on stdout")
    .action(
      action((paths: string[], opts: ReportOptions, cmd: Command) => {
        // `eval` has its own --json: commander hands it to the parent when given after `report`.
        const json = opts.json ?? (cmd.parent?.opts() as CommonOptions | undefined)?.json;
        const table = buildReport(loadEvalRuns(paths), (opts.target ?? []).map(parseTarget));
        const figures = reportFigures(table);
        if (opts.plot) writeFileAtomic(opts.plot, figuresHtml("tunekit eval report", figures));
        emit({ ...table, figures }, { json }, () => formatReport(table));
      }),
    );

  program
    .command("compare")
    .description(
      "Compare models on the same text and prompts: base vs base + adapter, or quantized GGUFs against a reference",
    )
    .requiredOption("--model <file>", "GGUF model; repeat for several (the first is the reference)", collect)
    .option(
      "--adapter <file>",
      "LoRA adapter: adds the first model + adapter as another entry (before/after)",
    )
    .option("--label <name>", "table label for each entry, in order (repeatable)", collect)
    .option("--text <file>", "held-out text for NLL/perplexity and KL divergence")
    .option("--data <file>", "eval set (messages JSONL) for greedy-answer agreement, speed and task metrics")
    .option(
      "--max-eval-tokens <n>",
      "score at most N tokens of the text (default 512)",
      num("--max-eval-tokens"),
    )
    .option("--window <n>", "tokens per scoring window (default 128)", num("--window"))
    .option("--limit <n>", "use only the first N eval examples", num("--limit"))
    .option("--max-tokens <n>", "most tokens per greedy answer (default 64)", num("--max-tokens"))
    .option("--metrics <list>", "task metrics on the eval set (default: auto)")
    .option("--out <dir>", "write compare.json and compare.html there")
    .option("--plot <file.html>", "write the plotly figures as an HTML page")
    .option("--context <n>", "context length of every model", num("--context"))
    .option("--threads <n>", "CPU threads", num("--threads"))
    .option("--json", "one JSON document on stdout")
    .action(
      action(async (opts: CompareOptions) => {
        const entries: CompareEntry[] = opts.model.map((m) => ({ model: m }));
        if (opts.adapter) entries.splice(1, 0, { model: opts.model[0], adapter: opts.adapter });
        (opts.label ?? []).forEach((l, i) => {
          if (entries[i]) entries[i].label = l;
        });
        const result: CompareResult = await compareModels({
          entries,
          text: opts.text ? readFileSync(opts.text, "utf8") : undefined,
          data: opts.data,
          maxEvalTokens: opts.maxEvalTokens,
          windowTokens: opts.window,
          limit: opts.limit,
          maxTokens: opts.maxTokens,
          metrics: parseMetricList(opts.metrics),
          contextSize: opts.context,
          threads: opts.threads,
          onProgress: (m) => {
            if (!opts.json) process.stderr.write(`  ${m}\n`);
          },
        });
        if (opts.out) {
          writeFileAtomic(join(opts.out, "compare.json"), JSON.stringify(result, null, 2) + "\n");
          writeFileAtomic(join(opts.out, "compare.html"), figuresHtml("tunekit compare", result.figures));
        }
        if (opts.plot) writeFileAtomic(opts.plot, figuresHtml("tunekit compare", result.figures));
        emit(result, opts, formatCompareTable);
      }),
    );
}
