// Writes a loaded model's current weights (after full fine-tuning) as a GGUF with the original metadata.
import { GgmlType } from "../gguf/ggml-types.js";
import { gguf, writeGguf, type GgufTensorToWrite } from "../gguf/index.js";
import { castF32 } from "./cast.js";
import type { Model } from "./model.js";

export async function saveModelGguf(model: Model, path: string, type: "f32" | "f16" | "bf16"): Promise<void> {
  const target = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16 }[type];
  const tensors: GgufTensorToWrite[] = model.weights.names().map((name) => {
    const t = model.weights.get(name);
    const matrix = t.shape.length >= 2;
    return {
      name,
      type: matrix ? target : GgmlType.F32,
      shape: t.shape,
      data: () => (matrix ? castF32(t.f32(), target) : t.bytes()),
    };
  });
  const metadata = new Map(model.file.metadata);
  metadata.set("general.file_type", gguf.u32({ f32: 0, f16: 1, bf16: 32 }[type]));
  await writeGguf(path, { metadata, tensors });
}
