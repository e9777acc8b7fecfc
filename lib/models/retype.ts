// GGUF → GGUF with the float matrices stored as f32, f16 or bf16 (vectors stay f32; metadata is kept).
import { InputError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { gguf, openGguf, writeGguf, type GgufTensorToWrite } from "../gguf/index.js";
import { castF32, floatBytesToF32 } from "./cast.js";

export async function retypeGguf(o: { input: string; out: string; type: "f32" | "f16" | "bf16" }) {
  const target = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16 }[o.type];
  const f = openGguf(o.input);
  try {
    const tensors: GgufTensorToWrite[] = f.tensors.map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const keep = t.shape.length < 2 || t.type === target;
      return {
        name: t.name,
        type: keep ? t.type : target,
        shape: t.shape,
        data: () =>
          keep ? f.tensorData(t.name) : castF32(floatBytesToF32(t.type, f.tensorData(t.name)), target),
      };
    });
    const metadata = new Map(f.metadata);
    metadata.set("general.file_type", gguf.u32({ f32: 0, f16: 1, bf16: 32 }[o.type]));
    const r = await writeGguf(o.out, { metadata, tensors, alignment: f.alignment });
    return { tensors: tensors.length, bytes: r.bytes };
  } finally {
    f.close();
  }
}
