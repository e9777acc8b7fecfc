// `tunekit data …`: prepare training data from the formats users have, verify it, look at it.
//   data prepare --format F --in PATH --out DIR   → train.jsonl, eval.jsonl, report.json
//   data verify FILE                              → every problem with its line; exit 1 on errors
//   data stats FILE                               → length statistics (chars; tokens with --model)
//   data preview PATH --out sheet.png             → contact sheet of an image dataset
//   data download SOURCE                          → fetch hf://… or roboflow://… into the cache
//   data formats                                  → the --format names
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { CONVERTERS } from "../../data/formats/index.js";
import { contactSheet } from "../../data/images/contact-sheet.js";
import { findLabeledImages } from "../../data/images/labeled.js";
import { parseMultipliers } from "../../data/images/augment.js";
import { RowIssues } from "../../data/issues.js";
import { loadModelText, recordTokenCounter } from "../../data/model-text.js";
import { prepareDataset, type PrepareReport } from "../../data/prepare.js";
import { readJsonlText, readText } from "../../data/read/rows.js";
import { messageImages, type ChatRecord } from "../../data/record.js";
import { resolveInput } from "../../data/sources/resolve.js";
import { summarize, type LengthSummary } from "../../data/stats.js";
import { datasetStats, type DatasetStats } from "../../data/dataset-stats.js";
import { readToolsFile } from "../../data/tools.js";
import { verifyFile, type VerifyReport } from "../../data/verify.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { InputError, TunekitError } from "../../util/errors.js";
import { action, emit, num, type CommonOptions } from "../output.js";

interface PrepareFlags extends CommonOptions {
  format: string;
  in: string;
  out: string;
  mode?: "instruct" | "conversational";
  window?: number;
  seed?: number;
  evalFraction?: number;
  stratify?: boolean;
  maxSamples?: number;
  skipBad?: boolean;
  tools?: string;
  system?: string;
  questionColumn?: string;
  answerColumn?: string;
  question?: string;
  labels?: string;
  augment?: string;
  placeholderImages?: number | boolean;
  dedupe?: boolean;
  model?: string;
  maxSeq?: number;
  chunkChars?: number;
  hubUrl?: string;
  hfFiles?: string;
  roboflowApiUrl?: string;
}

export function register(program: Command): void {
  const data = program.command("data").description("Prepare, verify and inspect training data");

  data
    .command("prepare")
    .description(
      "Convert an input (file, folder, hf://owner/name[@rev], roboflow://ws/project/version[/format]) into train.jsonl, eval.jsonl and report.json",
    )
    .requiredOption("--format <name>", `input format: ${Object.keys(CONVERTERS).join(", ")}`)
    .requiredOption("--in <path>", "input file, folder or remote source")
    .requiredOption("--out <dir>", "output folder (replaced atomically)")
    .option(
      "--mode <mode>",
      "chat-export: instruct (user → next reply) or conversational (pairs + expanding histories + sliding windows)",
    )
    .option(
      "--window <turns>",
      "chat-export conversational: sliding window length in turns",
      num("--window"),
      8,
    )
    .option("--seed <n>", "seed of sampling, split and augmentation", num("--seed"), 42)
    .option("--eval-fraction <f>", "share of records for eval.jsonl", num("--eval-fraction"), 0.05)
    .option("--stratify", "images: hold out the same share of every class (label)")
    .option("--max-samples <n>", "keep a seeded random sample of at most N records", num("--max-samples"))
    .option("--skip-bad", "skip malformed rows (counted in report.json) instead of stopping at the first")
    .option("--tools <file>", "function-calling: tool schemas (JSON array) instead of inferring them")
    .option("--system <text>", "system prompt added to every record")
    .option("--question-column <name>", "qa: the question column (auto-detected otherwise)")
    .option("--answer-column <name>", "qa: the answer column (auto-detected otherwise)")
    .option("--question <text>", "images: the question asked about each image")
    .option("--labels <file>", "images: JSON object mapping class → answer text")
    .option(
      "--augment <spec>",
      'images: augment training images, per-class multipliers, e.g. "rust=4,broca=4,*=2"',
    )
    .option(
      "--placeholder-images [size]",
      "add a black SIZE×SIZE image (default 224) to records without one",
      num("--placeholder-images"),
    )
    .option("--no-dedupe", "keep exact duplicate records")
    .option("--model <file.gguf>", "report token lengths with this model's tokenizer and chat template")
    .option("--max-seq <n>", "with --model: count records longer than N tokens", num("--max-seq"))
    .option("--chunk-chars <n>", "text: largest chunk of a .txt file in characters", num("--chunk-chars"))
    .option("--hf-files <text>", "hf://: only files whose path contains this text (e.g. train)")
    .option("--hub-url <url>", "Hugging Face endpoint (default https://huggingface.co)")
    .option("--roboflow-api-url <url>", "Roboflow API endpoint (default https://api.roboflow.com)")
    .option("--json", "one JSON document on stdout")
    .action(action(async (opts: PrepareFlags) => emit(await runPrepare(opts), opts, renderPrepare)));

  data
    .command("verify")
    .description(
      "Check a messages JSONL: JSON, roles and order, tool calls, image paths, token lengths; exit 1 on any error",
    )
    .argument("<file>", "messages JSONL")
    .option("--model <file.gguf>", "check token lengths against this model's context (or --max-tokens)")
    .option("--max-tokens <n>", "largest allowed record length in tokens", num("--max-tokens"))
    .option("--json", "one JSON document on stdout")
    .action(
      action((file: string, opts: CommonOptions & { model?: string; maxTokens?: number }) => {
        const model = opts.model ? loadModelText(opts.model) : undefined;
        const report = verifyFile(file, {
          measure: model ? recordTokenCounter(model) : undefined,
          maxTokens: opts.maxTokens ?? model?.contextLength,
        });
        emit(
          {
            ...report,
            tokenLengths: undefined,
            tokens: report.tokenLengths ? summarize(report.tokenLengths) : undefined,
          },
          opts,
          renderVerify,
        );
        if (report.errors > 0) process.exitCode = 1;
      }),
    );

  data
    .command("stats")
    .description(
      "Length statistics of a messages JSONL (characters; tokens with --model) and class balance of image records",
    )
    .argument("<file>", "messages JSONL")
    .option("--model <file.gguf>", "also count tokens with this model's tokenizer and chat template")
    .option("--json", "one JSON document on stdout")
    .action(
      action((file: string, opts: CommonOptions & { model?: string }) =>
        emit(datasetStats(file, opts.model), opts, renderStats),
      ),
    );

  data
    .command("preview")
    .description("Contact sheet PNG of an image dataset folder or of the image records of a JSONL")
    .argument("<path>", "images folder (COCO, CSV labels or folder per class) or messages JSONL")
    .requiredOption("--out <file.png>", "PNG to write")
    .option("--limit <n>", "most images shown", num("--limit"), 36)
    .option("--columns <n>", "tiles per row", num("--columns"), 6)
    .option("--tile <px>", "thumbnail size", num("--tile"), 128)
    .option("--json", "one JSON document on stdout")
    .action(
      action(
        async (
          path: string,
          opts: CommonOptions & { out: string; limit: number; columns: number; tile: number },
        ) => {
          const items = previewItems(path).slice(0, opts.limit);
          if (items.length === 0) throw new InputError("no images to show", { file: path });
          writeFileAtomic(opts.out, await contactSheet(items, { columns: opts.columns, tile: opts.tile }));
          emit({ out: opts.out, images: items.length }, opts, (r) => `wrote ${r.out} (${r.images} images)`);
        },
      ),
    );

  data
    .command("download")
    .description(
      "Download hf://owner/name[@rev] or roboflow://workspace/project/version[/format] into the cache and print the folder",
    )
    .argument("<source>", "remote source")
    .option("--hf-files <text>", "hf://: only files whose path contains this text")
    .option("--hub-url <url>", "Hugging Face endpoint")
    .option("--roboflow-api-url <url>", "Roboflow API endpoint")
    .option("--json", "one JSON document on stdout")
    .action(
      action(
        async (
          source: string,
          opts: CommonOptions & { hfFiles?: string; hubUrl?: string; roboflowApiUrl?: string },
        ) => {
          const r = await resolveInput(source, {
            hubUrl: opts.hubUrl,
            roboflowApiUrl: opts.roboflowApiUrl,
            pathContains: opts.hfFiles,
          });
          emit(r, opts, (x) => `${x.source} → ${x.path}`);
        },
      ),
    );

  data
    .command("formats")
    .description("List the --format names")
    .option("--json", "one JSON document on stdout")
    .action(
      action((opts: CommonOptions) =>
        emit(
          Object.values(CONVERTERS).map((c) => ({ name: c.name, description: c.description })),
          opts,
          (list) => list.map((c) => `${c.name.padEnd(17)} ${c.description}`).join("\n"),
        ),
      ),
    );
}

async function runPrepare(o: PrepareFlags): Promise<PrepareReport> {
  if (o.mode && o.mode !== "instruct" && o.mode !== "conversational")
    throw new TunekitError(`--mode must be instruct or conversational, got "${o.mode}"`);
  const model = o.model ? loadModelText(o.model) : undefined;
  let labelText: Record<string, string> | undefined;
  if (o.labels) {
    const v: unknown = JSON.parse(readText(o.labels));
    if (
      !v ||
      typeof v !== "object" ||
      Array.isArray(v) ||
      Object.values(v).some((x) => typeof x !== "string")
    )
      throw new InputError("expected a JSON object mapping class names to answer texts", { file: o.labels });
    labelText = v as Record<string, string>;
  }
  let augment;
  try {
    augment = o.augment ? parseMultipliers(o.augment) : undefined;
  } catch (err) {
    throw new TunekitError(`--augment: ${(err as Error).message}`);
  }
  return prepareDataset({
    format: o.format,
    input: o.in,
    outDir: o.out,
    mode: o.mode,
    window: o.window,
    seed: o.seed,
    evalFraction: o.evalFraction,
    stratify: o.stratify,
    maxSamples: o.maxSamples,
    skipBad: o.skipBad,
    tools: o.tools ? readToolsFile(o.tools) : undefined,
    system: o.system,
    questionColumn: o.questionColumn,
    answerColumn: o.answerColumn,
    imageQuestion: o.question,
    labelText,
    augment,
    placeholderSize: o.placeholderImages === true ? 224 : o.placeholderImages || undefined,
    dedupe: o.dedupe,
    chunkChars: o.chunkChars,
    measure: model ? recordTokenCounter(model) : undefined,
    maxTokens: o.maxSeq ?? model?.contextLength,
    hubUrl: o.hubUrl,
    pathContains: o.hfFiles,
    roboflowApiUrl: o.roboflowApiUrl,
  });
}

function renderPrepare(r: PrepareReport): string {
  const c = r.counts;
  const lines = [
    `${r.format} from ${r.source}: ${c.converted} records converted`,
    `  train ${c.train}, eval ${c.eval} (seed ${r.seed}, eval fraction ${r.evalFraction})`,
    `  duplicates removed ${c.duplicates}, not sampled ${c.notSampled}, bad rows skipped ${c.skippedBad}, dropped ${c.dropped}` +
      (c.augmented ? `, augmented images ${c.augmented}` : "") +
      (c.placeholders ? `, placeholders ${c.placeholders}` : ""),
    `  train length: ${fmtSummary(r.lengths.train.chars, "chars")}`,
  ];
  if (r.lengths.train.tokens)
    lines.push(
      `  train tokens: ${fmtSummary(r.lengths.train.tokens, "tokens")}${r.lengths.train.overMaxTokens ? `, ${r.lengths.train.overMaxTokens} over the limit` : ""}`,
    );
  if (r.classBalance)
    lines.push("  classes: " + r.classBalance.all.map((b) => `${b.label} ${b.count}`).join(", "));
  for (const p of r.skipped.slice(0, 10))
    lines.push(
      `  skipped ${p.file ?? ""}${p.line !== undefined ? `:${p.line}` : ""}: ${p.field ? `${p.field}: ` : ""}${p.message}`,
    );
  if (r.skipped.length > 10) lines.push(`  … and ${r.skipped.length - 10} more (report.json)`);
  return lines.join("\n");
}

const fmtSummary = (s: LengthSummary, unit: string) =>
  `min ${s.min}, median ${s.p50}, p90 ${s.p90}, max ${s.max} ${unit} (mean ${s.mean.toFixed(1)})`;

function renderVerify(r: Omit<VerifyReport, "tokenLengths"> & { tokens?: LengthSummary }): string {
  const lines = r.problems.map(
    (p) =>
      `${p.file ?? ""}${p.line !== undefined ? `:${p.line}` : ""}: ${p.severity}: ${p.field ? `${p.field}: ` : ""}${p.message}`,
  );
  lines.push(`${r.file}: ${r.records} records, ${r.valid} valid, ${r.errors} errors, ${r.warnings} warnings`);
  if (r.tokens) lines.push(`tokens: ${fmtSummary(r.tokens, "tokens")}`);
  return lines.join("\n");
}

function renderStats(s: DatasetStats): string {
  const lines = [
    `${s.file}: ${s.records} records, roles ${Object.entries(s.roles)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}, tool calls ${s.toolCalls}, images ${s.images}`,
    `  messages per record: ${fmtSummary(s.messages, "")}`,
    `  length: ${fmtSummary(s.chars, "chars")}`,
    `  assistant text: ${fmtSummary(s.assistantChars, "chars")}`,
  ];
  if (s.tokens) lines.push(`  tokens: ${fmtSummary(s.tokens, "tokens")}`);
  if (s.classBalance)
    lines.push(
      "  answers of image records: " +
        s.classBalance.map((b) => `${b.label} ${b.count} (${(100 * b.share).toFixed(1)} %)`).join(", "),
    );
  return lines.join("\n");
}

function previewItems(path: string): Array<{ image: string; caption?: string }> {
  if (/\.jsonl?$/i.test(path)) {
    const base = dirname(resolve(path));
    return readJsonlText(readText(path), path).flatMap((row) => {
      const r = row.value as ChatRecord;
      const answer = r.messages?.find((m) => m.role === "assistant");
      const caption = typeof answer?.content === "string" ? answer.content : undefined;
      return (r.messages ?? []).flatMap((m) =>
        messageImages(m).flatMap((im) => (im.path ? [{ image: resolve(base, im.path), caption }] : [])),
      );
    });
  }
  return findLabeledImages(path, new RowIssues(true)).images.map((im) => ({
    image: im.path,
    caption: im.label,
  }));
}
