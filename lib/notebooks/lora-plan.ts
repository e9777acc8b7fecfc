// The LoRA/QLoRA table of 05-lora: for a few candidate configurations, the trainable parameters of the
// adapter tunekit would create (LoraAdapter.create, the trainer's own call) and the memory estimate the
// trainer checks before a run (estimateMemory), with the base held as in the file or quantized (QLoRA).
import { LoraAdapter, type LoraConfig } from "../lora/adapter.js";
import { Model } from "../models/model.js";
import type { TrainConfig } from "../train/config.js";
import { estimateMemory, type MemoryEstimate } from "../train/memory.js";
import { frozenOptionsFor } from "../train/trainer.js";

/** One candidate configuration. */
export interface LoraPlan {
  /** Name in the table. */
  name: string;
  /** Rank, α, targets (and dropout / rsLoRA) as the trainer takes them. */
  lora: LoraConfig;
  /** Base held as in the file ("none") or quantized for QLoRA. */
  quantizeBase: TrainConfig["quantizeBase"];
  /** Optimizer: "adamw" (f32 moments, the default) or "adamw_8bit". */
  optim?: TrainConfig["optim"];
}

/** A plan's figures, as a table row. */
export type LoraPlanRow = {
  name: string;
  quantizeBase: string;
  /** DoRA (a magnitude per output row on top of LoRA). */
  dora: boolean;
  optim: TrainConfig["optim"];
  r: number;
  alpha: number;
  /** α/r (or α/√r with rsLoRA): the factor on B·A. */
  scale: number;
  /** Linear layers that get an adapter. */
  layers: number;
  trainableParams: number;
  /** Trainable parameters as a share of the base model's parameters, %. */
  trainablePercent: number;
} & MemoryEstimate;

/** Parameters of a GGUF model (every tensor's element count). */
export function modelParameterCount(model: Model): number {
  return model.file.tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** Evaluates each plan on the model at `modelPath` for sequences of `shape`. Loads the model once per base type. */
export function planLoraRuns(
  modelPath: string,
  plans: readonly LoraPlan[],
  shape: Pick<TrainConfig, "batch" | "maxSeq">,
): LoraPlanRow[] {
  const rows: LoraPlanRow[] = [];
  for (const quantizeBase of [...new Set(plans.map((p) => p.quantizeBase))]) {
    const model = Model.load(modelPath, frozenOptionsFor(quantizeBase));
    try {
      const total = modelParameterCount(model);
      for (const p of plans.filter((x) => x.quantizeBase === quantizeBase)) {
        const adapter = LoraAdapter.create(model, p.lora);
        try {
          const n = adapter.parameterCount;
          rows.push({
            name: p.name,
            quantizeBase,
            dora: adapter.config.dora,
            optim: p.optim ?? "adamw",
            r: p.lora.r,
            alpha: p.lora.alpha,
            scale: adapter.scale,
            layers: adapter.layers.size,
            trainableParams: n,
            trainablePercent: (100 * n) / total,
            ...estimateMemory(model, { ...shape, dora: p.lora.dora, optim: p.optim }, n),
          });
        } finally {
          adapter.free();
        }
      }
    } finally {
      model.dispose();
    }
  }
  return plans.map((p) => rows.find((r) => r.name === p.name)!);
}
