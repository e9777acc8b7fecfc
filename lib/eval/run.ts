// `eval`: answer every prompt of an eval set with a local GGUF (+ adapter) or an OpenAI-compatible
// endpoint, score the answers, and save the run (eval.json + predictions.jsonl) in a run folder.
import { mkdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import {
  endpointBackend,
  localBackend,
  type AnswerSettings,
  type BackendReply,
  type EvalBackend,
} from "./backends.js";
import { readEvalSet, type EvalExample } from "./dataset.js";
import { loadValidator, type ValidatorSpec } from "./metrics/syntax.js";
import { defaultMetrics, scoreAnswers, type MetricName, type ScoreResult } from "./score.js";

/** Options of {@link runEval}. */
export interface EvalRunOptions {
  /** Messages JSONL eval set. */
  data: string;
  /** GGUF model to evaluate (local, llama.cpp). Either this or `endpoint`. */
  model?: string;
  /** LoRA adapter GGUF applied to `model`. */
  adapter?: string;
  /** Adapter scale. Default 1. */
  adapterScale?: number;
  /** Context length for the local model. */
  contextSize?: number;
  /** CPU threads for the local model. */
  threads?: number;
  /** OpenAI-compatible endpoint (base URL …/v1) instead of a local model. */
  endpoint?: string;
  /** Model id at the endpoint (default: its first listed model). */
  endpointModel?: string;
  /** Endpoint key (default: OPENAI_API_KEY). */
  apiKey?: string;
  /** Metric families; default: chosen from the data. */
  metrics?: MetricName[];
  /** Most tokens per answer. Default 256. */
  maxTokens?: number;
  /** Sampling temperature. Default 0 (greedy). */
  temperature?: number;
  /** Sampler seed. */
  seed?: number;
  /** "required": grammar-forced tool calls on examples with tools. Default "auto". */
  toolChoice?: "auto" | "required";
  /** Constrain text answers to JSON ("json_object" or {schema}). */
  responseFormat?: AnswerSettings["responseFormat"];
  /** Validator for the syntax-valid rate. */
  validator?: ValidatorSpec;
  /** Label set for classification accuracy. */
  labels?: string[];
  /** Evaluate only the first N examples. */
  limit?: number;
  /** Run folder to write eval.json and predictions.jsonl into; nothing is written when absent. */
  out?: string;
  /** Name of the run in reports. Default: model/adapter file name or endpoint model. */
  name?: string;
  /** Called after each answered example. */
  onProgress?: (done: number, total: number) => void;
}

/** The saved result of an eval run (eval.json). */
export interface EvalRunResult {
  kind: "tunekit-eval";
  version: 1;
  name: string;
  createdAt: string;
  data: { path: string; examples: number };
  backend: Record<string, unknown> & { kind: string };
  settings: AnswerSettings & { metrics: MetricName[] };
  metrics: Record<string, number>;
  details: Omit<ScoreResult, "metrics">;
}

/** One line of predictions.jsonl. */
export interface PredictionRecord {
  line: number;
  reference: { text: string; tool_calls?: unknown[] };
  prediction: { text: string; tool_calls?: unknown[]; invalid_tool_call?: boolean };
  latency_ms: number;
  completion_tokens: number;
  finish_reason: string;
}

/** Answers a set of examples with a backend (in order). */
export async function answerAll(
  backend: EvalBackend,
  examples: readonly EvalExample[],
  settings: AnswerSettings,
  onProgress?: (done: number, total: number) => void,
): Promise<BackendReply[]> {
  const replies: BackendReply[] = [];
  for (const ex of examples) {
    replies.push(await backend.answer(ex, settings));
    onProgress?.(replies.length, examples.length);
  }
  return replies;
}

/** Runs an eval; returns the result and the run folder (when `out` was given). */
export async function runEval(
  o: EvalRunOptions,
): Promise<{ result: EvalRunResult; predictions: PredictionRecord[]; dir?: string }> {
  if (!o.model === !o.endpoint)
    throw new InputError("give either a model (--model) or an endpoint (--endpoint)", { field: "model" });
  if (o.adapter && !o.model) throw new InputError("--adapter needs --model", { field: "adapter" });
  let examples = readEvalSet(o.data);
  if (o.limit !== undefined) examples = examples.slice(0, o.limit);
  const validator = o.validator ? await loadValidator(o.validator) : undefined;
  const metrics =
    o.metrics ??
    defaultMetrics(examples, { local: !!o.model, validator: !!validator, labels: !!o.labels?.length });
  const settings: AnswerSettings = {
    maxTokens: o.maxTokens ?? 256,
    temperature: o.temperature ?? 0,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    toolChoice: o.toolChoice ?? "auto",
    ...(o.responseFormat ? { responseFormat: o.responseFormat } : {}),
  };
  const backend = o.model
    ? await localBackend({
        modelPath: o.model,
        ...(o.adapter ? { adapterPath: o.adapter, adapterScale: o.adapterScale } : {}),
        ...(o.contextSize ? { contextSize: o.contextSize } : {}),
        ...(o.threads ? { threads: o.threads } : {}),
      })
    : await endpointBackend({
        endpoint: o.endpoint!,
        ...(o.endpointModel ? { model: o.endpointModel } : {}),
        ...(o.apiKey ? { apiKey: o.apiKey } : {}),
        dataFile: o.data,
      });
  try {
    const replies = await answerAll(backend, examples, settings, o.onProgress);
    let referenceLogProbs: Array<Float64Array | undefined> | undefined;
    if (metrics.includes("nll") && backend.referenceLogProbs) {
      referenceLogProbs = [];
      for (const ex of examples) referenceLogProbs.push(await backend.referenceLogProbs(ex));
    }
    const scored = await scoreAnswers(examples, replies, {
      metrics,
      validator,
      labels: o.labels,
      referenceLogProbs,
    });
    const { metrics: flat, ...details } = scored;
    const name =
      o.name ??
      (o.model
        ? basename(o.adapter ?? o.model).replace(/\.gguf$/i, "")
        : String(backend.description.model ?? "endpoint"));
    const result: EvalRunResult = {
      kind: "tunekit-eval",
      version: 1,
      name,
      createdAt: new Date().toISOString(),
      data: { path: resolve(o.data), examples: examples.length },
      backend: { kind: backend.kind, ...backend.description },
      settings: { ...settings, metrics },
      metrics: flat,
      details,
    };
    const predictions: PredictionRecord[] = examples.map((ex, i) => ({
      line: ex.line,
      reference: {
        text: ex.referenceText,
        ...(ex.referenceCalls.length ? { tool_calls: ex.referenceCalls } : {}),
      },
      prediction: {
        text: replies[i].text,
        ...(replies[i].toolCalls.length ? { tool_calls: replies[i].toolCalls } : {}),
        ...(replies[i].invalidToolCall ? { invalid_tool_call: true } : {}),
      },
      latency_ms: replies[i].latencyMs,
      completion_tokens: replies[i].completionTokens,
      finish_reason: replies[i].finishReason,
    }));
    if (o.out) {
      mkdirSync(o.out, { recursive: true });
      writeFileAtomic(
        join(o.out, "predictions.jsonl"),
        predictions.map((p) => JSON.stringify(p)).join("\n") + "\n",
      );
      // eval.json last: its presence marks a complete run.
      writeFileAtomic(join(o.out, "eval.json"), JSON.stringify(result, null, 2) + "\n");
    }
    return { result, predictions, ...(o.out ? { dir: o.out } : {}) };
  } finally {
    await backend.dispose();
  }
}
