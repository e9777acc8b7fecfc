// GGUF → GGUF with the float matrices stored as f32, f16 or bf16 (vectors stay f32; metadata is kept).
import { InputError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { gguf, openGguf, writeGguf, type GgufTensorToWrite } from "../gguf/index.js";
import { castF32 } from "./cast.js";

function toF32(type: number, bytes: Uint8Array, n: number, name: string): Float32Array {
  const copy = bytes.slice();
  if (type === GgmlType.F32) return new Float32Array(copy.buffer, 0, n);
  const u16 = new Uint16Array(copy.buffer, 0, n);
  const out = new Float32Array(n);
  const u32 = new Uint32Array(out.buffer);
  if (type === GgmlType.BF16) for (let i = 0; i < n; i++) u32[i] = u16[i] << 16;
  else if (type === GgmlType.F16)
    for (let i = 0; i < n; i++) {
      const h = u16[i];
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      out[i] =
        e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    }
  else
    throw new InputError(
      `tensor "${name}" is quantized; retyping handles f32/f16/bf16 sources (use quantize)`,
    );
  return out;
}

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
          keep ? f.tensorData(t.name) : castF32(toF32(t.type, f.tensorData(t.name), n, t.name), target),
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
