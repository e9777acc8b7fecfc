// What the notebooks 02–07 work on and how big their runs are: the base model (the embedded default,
// or a GGUF named by TUNEKIT_NOTEBOOK_MODEL) and the sizes of the training and comparison runs. The
// test suite sets TUNEKIT_NOTEBOOK_FAST=1 to run the same notebooks with fewer steps and prompts: the
// code paths are the same, only the amounts shrink.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { TunekitError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";

/** Environment variable that makes the notebooks use small run sizes ("1" or "true"). */
export const FAST_ENV = "TUNEKIT_NOTEBOOK_FAST";
/** Environment variable naming another base model (a GGUF file) for the notebooks. */
export const MODEL_ENV = "TUNEKIT_NOTEBOOK_MODEL";
/** The embedded default base model the repository makes and ships. */
export const DEFAULT_MODEL_PATH = join(PACKAGE_ROOT, "data", "default-model", "default-model.gguf");

/** Run sizes of the notebooks. */
export interface NotebookSettings {
  /** True when TUNEKIT_NOTEBOOK_FAST asked for the small sizes. */
  fast: boolean;
  /** Optimizer steps of the first training run in 06. */
  trainSteps: number;
  /** Steps added when 06 demonstrates resuming. */
  resumeSteps: number;
  /** Evaluate (and checkpoint) every this many steps in 06. */
  evalEvery: number;
  /** Tokens per training sequence. */
  maxSeq: number;
  /** Sequences per micro-batch. */
  batch: number;
  /** Held-out tokens scored per model in 07's comparison. */
  compareTokens: number;
  /** Eval prompts answered per model in 07's comparison. */
  comparePrompts: number;
  /** Most tokens per answer in comparisons and chat. */
  answerTokens: number;
}

/** True when the notebooks should use their small sizes. */
export function fastMode(): boolean {
  const v = (process.env[FAST_ENV] ?? "").toLowerCase();
  return v === "1" || v === "true" || v === "yes";
}

/** The run sizes for this kernel (small ones under TUNEKIT_NOTEBOOK_FAST). */
export function notebookSettings(): NotebookSettings {
  const fast = fastMode();
  return {
    fast,
    trainSteps: fast ? 6 : 28,
    resumeSteps: fast ? 3 : 14,
    evalEvery: fast ? 3 : 7,
    maxSeq: 128,
    batch: 4,
    compareTokens: fast ? 256 : 1024,
    comparePrompts: fast ? 3 : 8,
    answerTokens: fast ? 24 : 64,
  };
}

/** The base model the notebooks fine-tune. */
export interface NotebookModel {
  /** Absolute path of the GGUF file. */
  path: string;
  /** "default": the embedded default model; "env": named by TUNEKIT_NOTEBOOK_MODEL. */
  source: "default" | "env";
  /**
   * CPU threads for llama.cpp (node-llama-cpp) on this model: 1 for the embedded default, whose
   * matrices are too small to split (with all cores it decoded ~2 tokens/s against ~500 with one on a
   * busy 2-core machine); undefined (node-llama-cpp's choice) for another model.
   */
  inferenceThreads?: number;
}

/** The base model: $TUNEKIT_NOTEBOOK_MODEL when set, else the embedded default (which must exist). */
export function notebookBaseModel(): NotebookModel {
  const fromEnv = process.env[MODEL_ENV];
  if (fromEnv) {
    const path = resolve(fromEnv);
    if (!existsSync(path)) throw new TunekitError(`${MODEL_ENV}=${fromEnv}: file not found`);
    return { path, source: "env" };
  }
  if (!existsSync(DEFAULT_MODEL_PATH))
    throw new TunekitError(
      `the embedded default model ${DEFAULT_MODEL_PATH} is missing; set ${MODEL_ENV} to a GGUF file to use another base model`,
    );
  return { path: DEFAULT_MODEL_PATH, source: "default", inferenceThreads: 1 };
}
