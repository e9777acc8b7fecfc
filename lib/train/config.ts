// Training configuration: a JSON file (recipes/*.json) with command-line flags on top, checked field by
// field before anything is loaded.
import { readFileSync } from "node:fs";
import { InputError } from "../util/errors.js";
import type { SchedulerName } from "./schedule.js";

/** Types of the frozen base's transposed copies (TrainConfig.backwardCopy). */
export const BACKWARD_COPIES = ["auto", "f16", "bf16", "f32"] as const;

export interface TrainConfig {
  /** Base model GGUF. */
  model: string;
  /** Training data: prepared messages JSONL ({"messages": …}) or {"text": …} JSONL. */
  data: string;
  /** Optional eval data (same formats). */
  evalData?: string;
  /**
   * Vision tower (mmproj GGUF) for image+text fine-tuning: the data then holds image records, `target` may
   * name vision layers ("vision", "v.blk.N.attn_q", /regex/), and the run also writes mmproj.gguf.
   */
  mmproj?: string;
  /** With mmproj: train the projector's tensors (mm.*) in full. */
  trainProjector: boolean;
  /** Run folder. */
  out: string;
  /** "lora" (default) or "full" (train the tensors named in fullTargets). */
  method: "lora" | "full";
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  rslora: boolean;
  /** DoRA: LoRA plus a trainable magnitude per output row (PEFT's use_dora); LoRA only. */
  dora: boolean;
  /** LoRA target modules (see lib/lora/targets.ts). */
  target: string;
  /** Frozen base held as: none (as in the file), q8_0, q4_k, q4_0 (QLoRA). */
  quantizeBase: "none" | "q8_0" | "q4_k" | "q4_0";
  /**
   * Type of the frozen matrices' transposed copies that carry the backward pass: auto (f16 for quantized or
   * f16/bf16 bases, exact f32 for f32 matrices up to 16384 outputs), f16, bf16 (~1.6× faster than f16 on CPUs
   * with AVX512_BF16, ~8× the gradient rounding error), or f32 (exact, twice the memory of f16).
   */
  backwardCopy: (typeof BACKWARD_COPIES)[number];
  epochs: number;
  /** Stop after this many optimizer steps (0: run all epochs). */
  maxSteps: number;
  /** Sequences per micro-batch. */
  batch: number;
  gradAccum: number;
  /** Tokens per sequence (rows are padded or packed to it). */
  maxSeq: number;
  /** Pack several short records into one row (attention stays within each record). */
  packing: boolean;
  lr: number;
  scheduler: SchedulerName;
  /** Warmup: a fraction of the total steps when < 1, else a step count. */
  warmup: number;
  weightDecay: number;
  maxGradNorm: number;
  beta1: number;
  beta2: number;
  /** "adamw" (f32 moments) or "adamw_8bit" (block-wise 8-bit moments, see lib/engine/optimizer.ts). */
  optim: "adamw" | "adamw_8bit";
  /** NEFTune noise α (0: off). */
  neftuneAlpha: number;
  /** "assistant" (default) or "all". */
  trainOn: "assistant" | "all";
  evalEvery: number;
  saveEvery: number;
  keepBest: number;
  /** Stop when eval loss has not improved for this many evaluations (0: never). */
  earlyStopping: number;
  logEvery: number;
  seed: number;
  threads: number;
}

export const DEFAULTS: Omit<TrainConfig, "model" | "data" | "out"> = {
  method: "lora",
  loraR: 16,
  loraAlpha: 32,
  loraDropout: 0,
  rslora: false,
  dora: false,
  target: "all-linear",
  quantizeBase: "none",
  backwardCopy: "auto",
  epochs: 1,
  maxSteps: 0,
  batch: 4,
  gradAccum: 1,
  maxSeq: 256,
  packing: true,
  lr: 2e-4,
  scheduler: "cosine",
  warmup: 0.05,
  weightDecay: 0,
  maxGradNorm: 1,
  beta1: 0.9,
  beta2: 0.999,
  optim: "adamw",
  neftuneAlpha: 0,
  trainOn: "assistant",
  evalEvery: 0,
  saveEvery: 0,
  keepBest: 2,
  earlyStopping: 0,
  logEvery: 1,
  seed: 42,
  threads: 0,
  trainProjector: false,
};

/** JSON keys accepted in config files: camelCase or snake_case/kebab-case of the fields above. */
function normaliseKey(k: string): string {
  return k.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());
}

const ENUMS: Partial<Record<keyof TrainConfig, readonly string[]>> = {
  method: ["lora", "full"],
  quantizeBase: ["none", "q8_0", "q4_k", "q4_0"],
  backwardCopy: BACKWARD_COPIES,
  scheduler: ["constant", "linear", "cosine"],
  trainOn: ["assistant", "all"],
  optim: ["adamw", "adamw_8bit"],
};

/** Merges a config file (optional) and overrides, then validates every field. */
export function resolveTrainConfig(
  file: string | undefined,
  overrides: Partial<Record<string, unknown>>,
): TrainConfig {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new InputError(`cannot read the config: ${(e as Error).message}`, { file });
    }
    try {
      fromFile = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new InputError(`not valid JSON: ${(e as Error).message}`, { file });
    }
    if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile))
      throw new InputError("the config must be a JSON object", { file });
  }
  const merged: Record<string, unknown> = { ...DEFAULTS };
  const known = new Set([
    ...Object.keys(DEFAULTS),
    "model",
    "data",
    "evalData",
    "mmproj",
    "out",
    "description",
    "name",
  ]);
  for (const [src, obj] of [
    [file, fromFile],
    [undefined, overrides],
  ] as const) {
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      const key = normaliseKey(k);
      if (!known.has(key)) throw new InputError(`unknown setting "${k}"`, { file: src, field: k });
      merged[key] = v;
    }
  }
  return validate(merged, file);
}

function validate(c: Record<string, unknown>, file?: string): TrainConfig {
  const err = (field: string, why: string) => new InputError(why, { file, field });
  for (const f of ["model", "data", "out"])
    if (typeof c[f] !== "string" || !c[f]) throw err(f, `"${f}" is required`);
  if (c.mmproj !== undefined && (typeof c.mmproj !== "string" || !c.mmproj))
    throw err("mmproj", "mmproj must be the path of an mmproj GGUF");
  for (const [k, v] of Object.entries(DEFAULTS)) {
    const val = c[k];
    if (typeof v === "number") {
      const n = typeof val === "string" ? Number(val) : val;
      if (typeof n !== "number" || !Number.isFinite(n))
        throw err(k, `${k} must be a number, got ${JSON.stringify(val)}`);
      c[k] = n;
    } else if (typeof v === "boolean" && typeof val !== "boolean") throw err(k, `${k} must be true or false`);
    else if (typeof v === "string" && typeof val !== "string") throw err(k, `${k} must be a string`);
    const allowed = ENUMS[k as keyof TrainConfig];
    if (allowed && !allowed.includes(c[k] as string))
      throw err(k, `${k} must be one of ${allowed.join(", ")}, got "${String(c[k])}"`);
  }
  const t = c as unknown as TrainConfig;
  const intMin = (k: keyof TrainConfig, min: number) => {
    const v = t[k] as number;
    if (!Number.isInteger(v) || v < min) throw err(k, `${k} must be an integer ≥ ${min}, got ${v}`);
  };
  intMin("loraR", 1);
  intMin("batch", 1);
  intMin("gradAccum", 1);
  intMin("maxSeq", 8);
  intMin("epochs", 0);
  intMin("maxSteps", 0);
  intMin("evalEvery", 0);
  intMin("saveEvery", 0);
  intMin("keepBest", 0);
  intMin("earlyStopping", 0);
  intMin("logEvery", 1);
  intMin("threads", 0);
  if (t.epochs === 0 && t.maxSteps === 0) throw err("epochs", "set epochs ≥ 1 or maxSteps ≥ 1");
  if (!(t.lr > 0 && t.lr < 1)) throw err("lr", `lr must be in (0, 1), got ${t.lr}`);
  if (!(t.loraAlpha > 0)) throw err("loraAlpha", `loraAlpha must be > 0`);
  if (!(t.loraDropout >= 0 && t.loraDropout < 1)) throw err("loraDropout", "loraDropout must be in [0, 1)");
  if (!(t.weightDecay >= 0 && t.weightDecay <= 1)) throw err("weightDecay", "weightDecay must be in [0, 1]");
  if (!(t.maxGradNorm >= 0)) throw err("maxGradNorm", "maxGradNorm must be ≥ 0 (0: no clipping)");
  if (!(t.warmup >= 0)) throw err("warmup", "warmup must be ≥ 0");
  if (!(t.neftuneAlpha >= 0)) throw err("neftuneAlpha", "neftuneAlpha must be ≥ 0");
  if (t.dora && t.method !== "lora")
    throw err(
      "dora",
      'dora works with method "lora" (it adds a magnitude to LoRA layers), not full fine-tuning',
    );
  return t;
}
