// Writing safetensors files (8-byte little-endian header length, JSON header, raw data), f32 only —
// what PEFT adapters need. The header is padded with spaces to an 8-byte boundary, as the reference writer does.
import { writeFileAtomic } from "./atomic.js";

export interface SafetensorsTensor {
  name: string;
  /** Shape in PyTorch order (outermost first). */
  shape: number[];
  data: Float32Array;
}

export function writeSafetensors(
  path: string,
  tensors: SafetensorsTensor[],
  metadata: Record<string, string> = {},
): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new Error(`${t.name}: shape [${t.shape}] holds ${n} values, data has ${t.data.length}`);
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json);
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let o = 8 + head.length;
  for (const t of tensors) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, o);
    o += t.data.byteLength;
  }
  writeFileAtomic(path, out);
}
