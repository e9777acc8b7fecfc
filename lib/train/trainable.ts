// What a run trains: a LoRA adapter on a frozen base, or the model's own tensors (full fine-tuning).
// The loop only sees this interface.
import { join } from "node:path";
import type { Tensor } from "../engine/tensor.js";
import { plainLinear, type LinearFn } from "../models/decoder.js";
import type { Model } from "../models/model.js";
import { saveModelGguf } from "../models/save.js";
import type { DropoutInput, LoraAdapter } from "../lora/adapter.js";
import { exportPeft } from "../lora/peft.js";

export interface Trainable {
  params(): Tensor[];
  readonly parameterCount: number;
  linear(dropout?: DropoutInput[]): LinearFn;
  snapshot(): Float32Array[];
  restore(values: Float32Array[]): void;
  /** Writes the run's result into runDir; returns the main file. */
  saveOutputs(runDir: string, model: Model, baseModelPath: string): Promise<string>;
  free(): void;
}

export function loraTrainable(adapter: LoraAdapter): Trainable {
  return {
    params: () => adapter.params(),
    parameterCount: adapter.parameterCount,
    linear: (d) => adapter.linear(d),
    snapshot: () => adapter.snapshot(),
    restore: (v) => adapter.restore(v),
    async saveOutputs(runDir, model, base) {
      const path = join(runDir, "adapter.gguf");
      await adapter.saveGguf(path, model);
      await exportPeft(runDir, adapter, model, base);
      return path;
    },
    free: () => adapter.free(),
  };
}

/** Every tensor of a model loaded with `trainable: true` (all f32). */
export function fullTrainable(model: Model): Trainable {
  const tensors = model.weights.names().map((n) => model.weights.get(n));
  return {
    params: () => tensors,
    parameterCount: tensors.reduce((s, t) => s + t.nelements, 0),
    linear: () => plainLinear,
    snapshot: () => tensors.map((t) => t.f32()),
    restore: (v) => tensors.forEach((t, i) => t.set(v[i])),
    async saveOutputs(runDir, m) {
      const path = join(runDir, "model.gguf");
      await saveModelGguf(m, path, "f32");
      return path;
    },
    free: () => undefined,
  };
}
