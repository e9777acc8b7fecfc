// What a run trains: a LoRA adapter on a frozen base, or the model's own tensors (full fine-tuning).
// The loop only sees this interface.
import { join } from "node:path";
import type { Tensor } from "../engine/tensor.js";
import { plainLinear, type LinearFn } from "../models/decoder.js";
import type { Model } from "../models/model.js";
import { saveModelGguf } from "../models/save.js";
import type { DropoutInput, LoraAdapter } from "../lora/adapter.js";
import { exportPeft } from "../lora/peft.js";
import { mergeAdapter } from "../export/merge.js";
import { GgmlType } from "../gguf/ggml-types.js";

export interface Trainable {
  params(): Tensor[];
  readonly parameterCount: number;
  linear(dropout?: DropoutInput[]): LinearFn;
  snapshot(): Float32Array[];
  restore(values: Float32Array[]): void;
  /** Called after every optimizer step (DoRA recomputes its norms). */
  afterUpdate(): void;
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
    afterUpdate: () => adapter.refreshNorms(),
    async saveOutputs(runDir, model, base) {
      await exportPeft(runDir, adapter, model, base);
      if (adapter.config.dora) {
        // llama.cpp's adapter files cannot hold DoRA's magnitude: the run's llama.cpp-ready result is the
        // merged model (exact), f32 when the base's matrices are f32 and f16 otherwise
        const path = join(runDir, "merged.gguf");
        const f32Base = model.file.tensors.every((t) => t.shape.length < 2 || t.type === GgmlType.F32);
        await mergeAdapter({ model: base, adapter, out: path, type: f32Base ? "f32" : "f16" });
        return path;
      }
      const path = join(runDir, "adapter.gguf");
      await adapter.saveGguf(path, model);
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
    afterUpdate: () => undefined,
    async saveOutputs(runDir, m) {
      const path = join(runDir, "model.gguf");
      await saveModelGguf(m, path, "f32");
      return path;
    },
    free: () => undefined,
  };
}
