// `data prepare`: any supported input → train.jsonl, eval.jsonl and report.json in one folder.
// Steps: resolve the input (local, hf://, roboflow://) → convert (bad rows: error, or skipped and
// counted) → de-duplicate → seeded sample (--max-samples) → seeded split (--eval-fraction) → for image
// data: copy images into the folder, augment the training split, add placeholders → write. Everything
// is written in a temporary folder renamed at the end: a failed run leaves nothing behind.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ToolSchema } from "../chat/types.js";
import { TunekitError } from "../util/errors.js";
import { writeDirAtomically } from "../util/atomic.js";
import { converterFor } from "./formats/index.js";
import type { ConvertOptions, ConvertedRecord } from "./formats/types.js";
import { RowIssues, type Problem } from "./issues.js";
import { addPlaceholders, augmentRecords, imageCopier, imagePathsOf } from "./images/materialize.js";
import type { ClassMultipliers } from "./images/augment.js";
import { SeededRandom } from "./random.js";
import type { ChatRecord } from "./record.js";
import { resolveInput, type ResolveInputOptions } from "./sources/resolve.js";
import { dedupe, sampleItems, splitTrainEval } from "./split.js";
import { classBalance, histogram, recordLengths, summarize, type Histogram, type LengthSummary } from "./stats.js";

/** Options of {@link prepareDataset}. */
export interface PrepareOptions extends Omit<ConvertOptions, "issues">, ResolveInputOptions {
  /** Input format (`--format`). */
  format: string;
  /** File, folder, hf://owner/name[@rev] or roboflow://workspace/project/version[/format]. */
  input: string;
  /** Output folder (replaced atomically). */
  outDir: string;
  /** Seed of sampling, split and augmentation (default 42). */
  seed?: number;
  /** Share of records for eval (default 0.05). */
  evalFraction?: number;
  /** Split each class (image label) with the same eval share (default false: one shuffle of all records). */
  stratify?: boolean;
  /** Keep at most this many records (seeded sample, taken before the split). */
  maxSamples?: number;
  /** Skip and count malformed rows instead of failing (default false). */
  skipBad?: boolean;
  /** Remove exact duplicate records (default true). */
  dedupe?: boolean;
  /** Augment training images with these per-class multipliers (images only). */
  augment?: ClassMultipliers;
  /** Give records without an image a black placeholder of this size (e.g. 224). */
  placeholderSize?: number;
  /** Token length of a record (e.g. rendered with a model's template) for the report's histogram. */
  measure?: (record: ChatRecord) => number;
  /** Token limit to count records over (e.g. --max-seq or the model's context). */
  maxTokens?: number;
}

/** Length facts of one split. */
export interface SplitLengths {
  chars: LengthSummary;
  charsHistogram: Histogram;
  tokens?: LengthSummary;
  tokensHistogram?: Histogram;
  /** Records longer than maxTokens. */
  overMaxTokens?: number;
}

/** report.json. */
export interface PrepareReport {
  format: string;
  source: string;
  seed: number;
  evalFraction: number;
  counts: {
    converted: number;
    skippedBad: number;
    dropped: number;
    duplicates: number;
    notSampled: number;
    train: number;
    eval: number;
    augmented: number;
    placeholders: number;
  };
  /** Malformed rows skipped with --skip-bad, with file, line and reason. */
  skipped: Problem[];
  /** Rows left out on purpose, with the reason. */
  dropped: Problem[];
  /** Tools attached to records (function-calling), when any. */
  tools?: ToolSchema[];
  lengths: { train: SplitLengths; eval: SplitLengths };
  /** Records per class (images), before augmentation, and in train after it. */
  classBalance?: { all: ReturnType<typeof classBalance>; trainAfterAugmentation: ReturnType<typeof classBalance> };
}

/** Runs the whole preparation; returns the report (also written as report.json). */
export async function prepareDataset(options: PrepareOptions): Promise<PrepareReport> {
  const seed = options.seed ?? 42;
  const evalFraction = options.evalFraction ?? 0.05;
  if (!(evalFraction >= 0 && evalFraction < 1)) throw new TunekitError(`--eval-fraction must be in [0, 1), got ${evalFraction}`);
  const converter = converterFor(options.format);
  const { path, source } = await resolveInput(options.input, options);
  const issues = new RowIssues(options.skipBad ?? false);
  const converted = await converter.convert(path, { ...options, issues });
  if (converted.length === 0) throw new TunekitError(`no records could be made from ${options.input}${issues.skipped.length ? ` (${issues.skipped.length} bad rows skipped)` : ""}`);
  const { kept, duplicates } = options.dedupe === false ? { kept: converted, duplicates: [] } : dedupe(converted);
  const sampled = options.maxSamples !== undefined ? sampleItems(kept, options.maxSamples, seed) : kept;
  const split = splitTrainEval(sampled, {
    evalFraction,
    seed,
    ...(options.stratify ? { labels: sampled.map((it) => it.label) } : {}),
  });
  const hasImages = sampled.some((it) => imagePathsOf(it.record).length > 0);

  let report!: PrepareReport;
  await writeDirAtomically(options.outDir, async (tmp) => {
    let train = split.train;
    let evalSet = split.eval;
    let augmented = 0;
    let placeholders = 0;
    if (hasImages) {
      const copy = imageCopier(tmp);
      train = copy(train);
      evalSet = copy(evalSet);
    }
    if (options.augment && hasImages) {
      const aug = await augmentRecords(train, { outDir: tmp, multipliers: options.augment, seed });
      augmented = aug.records.length;
      train = new SeededRandom(seed + 1).shuffle([...train, ...aug.records]);
    }
    if (options.placeholderSize) {
      const a = await addPlaceholders(train, tmp, options.placeholderSize);
      const b = await addPlaceholders(evalSet, tmp, options.placeholderSize);
      train = a.records;
      evalSet = b.records;
      placeholders = a.added + b.added;
    }
    writeJsonl(join(tmp, "train.jsonl"), train);
    writeJsonl(join(tmp, "eval.jsonl"), evalSet);
    const tools = sampled.find((it) => it.record.tools?.length)?.record.tools;
    report = {
      format: options.format,
      source,
      seed,
      evalFraction,
      counts: {
        converted: converted.length,
        skippedBad: issues.skipped.length,
        dropped: issues.dropped.length,
        duplicates: duplicates.length,
        notSampled: kept.length - sampled.length,
        train: train.length,
        eval: evalSet.length,
        augmented,
        placeholders,
      },
      skipped: issues.skipped,
      dropped: issues.dropped,
      ...(options.format === "function-calling" && tools ? { tools } : {}),
      lengths: { train: splitLengths(train, options), eval: splitLengths(evalSet, options) },
      ...(sampled.some((it) => it.label !== undefined)
        ? { classBalance: { all: classBalance(sampled.map((it) => it.label)), trainAfterAugmentation: classBalance(train.map((it) => it.label)) } }
        : {}),
    };
    writeFileSync(join(tmp, "report.json"), JSON.stringify(report, null, 2) + "\n");
  });
  return report;
}

function writeJsonl(file: string, items: ConvertedRecord[]): void {
  writeFileSync(file, items.map((it) => JSON.stringify(it.record)).join("\n") + (items.length ? "\n" : ""));
}

function splitLengths(items: ConvertedRecord[], options: PrepareOptions): SplitLengths {
  const chars = items.map((it) => recordLengths(it.record).chars);
  const out: SplitLengths = { chars: summarize(chars), charsHistogram: histogram(chars) };
  if (options.measure) {
    const tokens = items.map((it) => options.measure!(it.record));
    out.tokens = summarize(tokens);
    out.tokensHistogram = histogram(tokens);
    if (options.maxTokens) out.overMaxTokens = tokens.filter((n) => n > options.maxTokens!).length;
  }
  return out;
}
