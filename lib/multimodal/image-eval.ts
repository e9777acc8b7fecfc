// Image-question evaluation (disease identification and the like): every held-out record's image question
// is answered by the model with tunekit's engine (node-llama-cpp has no multimodal API), the class name is
// read from the answer, and accuracy, per-class precision/recall and the confusion matrix are reported.
// The run is saved as eval.json (the shape of `tunekit eval`, so `eval report`/`compare` read it) and
// predictions.jsonl.
import { mkdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { messageText, type RecordMessage } from "../data/record.js";
import type { RenderFn } from "../data/tokenize.js";
import type { LinearFn } from "../models/decoder.js";
import { Model } from "../models/model.js";
import { LoraAdapter } from "../lora/adapter.js";
import { openImageEncoder } from "./vision.js";
import { modelRender } from "./rows.js";
import {
  classificationReport,
  extractLabel,
  type ClassificationReport,
} from "../eval/metrics/classification.js";
import type { EvalRunResult } from "../eval/run.js";
import type { ImageEncoder } from "./encoder.js";
import { answerWithImages, jsonlBaseDir } from "./generate.js";

/** One held-out image question. */
export interface ImageQuestion {
  /** 1-based line in the JSONL file. */
  line: number;
  /** The conversation before the reference answer (images included). */
  prompt: RecordMessage[];
  /** The reference answer (the last assistant turn). */
  reference: string;
}

/** Reads image questions from a prepared messages JSONL (the last assistant turn is the reference). */
export function readImageQuestions(file: string): ImageQuestion[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new InputError("cannot read the eval file", { file });
  }
  const out: ImageQuestion[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    const where = { file, line: i + 1 };
    let rec: { messages?: unknown };
    try {
      rec = JSON.parse(raw) as { messages?: unknown };
    } catch (e) {
      throw new InputError(`not valid JSON: ${(e as Error).message}`, where);
    }
    if (!rec || !Array.isArray(rec.messages))
      throw new InputError('expected an object with a "messages" array', { ...where, field: "messages" });
    const messages = rec.messages as RecordMessage[];
    const last = messages.map((m) => m?.role).lastIndexOf("assistant");
    if (last < 1) throw new InputError("no assistant answer after a prompt", { ...where, field: "messages" });
    out.push({
      line: i + 1,
      prompt: messages.slice(0, last),
      reference: messageText(messages[last]!).trim(),
    });
  });
  if (out.length === 0) throw new InputError("no examples", { file });
  return out;
}

/** Options of {@link evalImageQuestions}. */
export interface ImageEvalOptions {
  model: Model;
  encoder: ImageEncoder;
  /** The model's chat template as a render function. */
  render: RenderFn;
  /** Held-out messages JSONL with images (paths relative to its folder). */
  data: string;
  /** Class names; default: the distinct reference answers. */
  labels?: string[];
  /** Language-model linear hook (LoRA). */
  linear?: LinearFn;
  /** Vision linear hook (vision LoRA). */
  visionLinear?: LinearFn;
  /** Most tokens per answer. Default 16. */
  maxTokens?: number;
  /** Evaluate only the first N examples. */
  limit?: number;
  /** Run folder for eval.json and predictions.jsonl (nothing written when absent). */
  out?: string;
  /** Run name in reports. */
  name?: string;
  /** Called after each answered example. */
  onProgress?: (done: number, total: number) => void;
}

/** One answered question. */
export interface ImagePrediction {
  line: number;
  reference: string;
  answer: string;
  /** Class read from the reference / the answer ("(other)" when the answer names none). */
  referenceLabel: string;
  predictedLabel: string;
}

/** Result of an image-question eval. */
export interface ImageEvalResult {
  result: EvalRunResult;
  report: ClassificationReport;
  predictions: ImagePrediction[];
  dir?: string;
}

/** Answers every image question and scores the class names. */
export async function evalImageQuestions(o: ImageEvalOptions): Promise<ImageEvalResult> {
  let questions = readImageQuestions(o.data);
  if (o.limit !== undefined) questions = questions.slice(0, o.limit);
  const labels = o.labels?.length ? [...o.labels] : [...new Set(questions.map((q) => q.reference))].sort();
  const baseDir = jsonlBaseDir(o.data);
  const maxTokens = o.maxTokens ?? 16;
  const predictions: ImagePrediction[] = [];
  const started = performance.now();
  for (const q of questions) {
    const a = await answerWithImages(o.model, o.encoder, q.prompt, {
      render: o.render,
      baseDir,
      maxTokens,
      linear: o.linear,
      visionLinear: o.visionLinear,
    });
    predictions.push({
      line: q.line,
      reference: q.reference,
      answer: a.text,
      referenceLabel: extractLabel(q.reference, labels),
      predictedLabel: extractLabel(a.text, labels),
    });
    o.onProgress?.(predictions.length, questions.length);
  }
  const report = classificationReport(
    predictions.map((p) => p.predictedLabel),
    predictions.map((p) => p.referenceLabel),
  );
  const result: EvalRunResult = {
    kind: "tunekit-eval",
    version: 1,
    name: o.name ?? basename(o.model.path).replace(/\.gguf$/i, ""),
    createdAt: new Date().toISOString(),
    data: { path: resolve(o.data), examples: questions.length },
    backend: {
      kind: "tunekit-multimodal",
      model: o.model.path,
      seconds: (performance.now() - started) / 1000,
    },
    settings: { maxTokens, temperature: 0, toolChoice: "auto", metrics: ["accuracy"] },
    metrics: { accuracy: report.accuracy, macro_f1: report.macroF1 },
    details: { classification: report },
  };
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    writeFileAtomic(
      join(o.out, "predictions.jsonl"),
      predictions.map((p) => JSON.stringify(p)).join("\n") + "\n",
    );
    writeFileAtomic(join(o.out, "eval.json"), JSON.stringify(result, null, 2) + "\n");
  }
  return { result, report, predictions, ...(o.out ? { dir: o.out } : {}) };
}

/** The confusion matrix and per-class precision/recall as a text table (rows: reference, columns: predicted). */
export function confusionTable(r: ClassificationReport): string {
  const w = Math.max(9, ...r.labels.map((l) => l.length));
  const head = ["reference \\ predicted".padEnd(w), ...r.labels.map((l, i) => `[${i}]`.padStart(5))].join(
    " ",
  );
  const rows = r.labels.map((l, i) =>
    [`[${i}] ${l}`.padEnd(w), ...r.matrix[i]!.map((v) => String(v).padStart(5))].join(" "),
  );
  const per = r.labels.map((l) => {
    const p = r.perClass[l]!;
    return `${l.padEnd(w)} precision ${p.precision.toFixed(2)}  recall ${p.recall.toFixed(2)}  f1 ${p.f1.toFixed(2)}  support ${p.support}`;
  });
  return [
    `accuracy ${(100 * r.accuracy).toFixed(1)}% · macro F1 ${r.macroF1.toFixed(3)}`,
    head,
    ...rows,
    "",
    ...per,
  ].join("\n");
}

/** Options of {@link evalImageQuestionsFromFiles}. */
export interface ImageEvalFilesOptions extends Omit<
  ImageEvalOptions,
  "model" | "encoder" | "render" | "linear"
> {
  /** Language model GGUF. */
  model: string;
  /** Vision tower (mmproj GGUF). */
  mmproj: string;
  /** Language LoRA adapter GGUF (llama.cpp layout). */
  adapter?: string;
  /** CPU threads (default: the engine's). */
  threads?: number;
}

/** evalImageQuestions on model files: loads the model (+ adapter) and the mmproj, evaluates, frees them. */
export async function evalImageQuestionsFromFiles(o: ImageEvalFilesOptions): Promise<ImageEvalResult> {
  const model = Model.load(o.model);
  let adapter: LoraAdapter | undefined;
  let encoder: ImageEncoder | undefined;
  try {
    adapter = o.adapter ? LoraAdapter.loadGguf(model, o.adapter) : undefined;
    encoder = openImageEncoder(o.mmproj, { threads: o.threads });
    return await evalImageQuestions({
      ...o,
      model,
      encoder,
      render: modelRender(model),
      linear: adapter?.linear(),
      name: o.name ?? basename(o.adapter ?? o.model).replace(/\.gguf$/i, ""),
    });
  } finally {
    encoder?.dispose();
    adapter?.free();
    model.dispose();
  }
}
