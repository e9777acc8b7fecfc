// Writing safetensors files (8-byte little-endian header length, JSON header, raw data): writeSafetensors
// (f32, in memory — what PEFT adapters need) and writeSafetensorsStreamed (f32/f16/bf16, tensor by tensor —
// model checkpoints). The header is padded with spaces to an 8-byte boundary, as the reference writer does.
import { closeSync, openSync, writeSync } from "node:fs";
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

/** One tensor of {@link writeSafetensorsStreamed}: its bytes are produced only when written. */
export interface SafetensorsEntry {
  name: string;
  dtype: "F32" | "F16" | "BF16";
  /** Shape in PyTorch order (outermost first). */
  shape: number[];
  /**
   * The little-endian bytes (element count × dtype size), asked for once, in order: all at once, or as
   * consecutive chunks (large tensors a block of rows at a time).
   */
  data: () => Uint8Array | Iterable<Uint8Array>;
}

export const SAFETENSORS_DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;

/**
 * Writes a safetensors file tensor by tensor (only one tensor's bytes in memory at a time), for model
 * shards of gigabytes. Not atomic by itself: write into a folder built with writeDirAtomically, or a
 * temporary path. Returns the file size.
 */
export function writeSafetensorsStreamed(
  path: string,
  entries: SafetensorsEntry[],
  metadata: Record<string, string> = {},
): number {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const sizes = entries.map((t) => t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype]);
  entries.forEach((t, i) => {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + sizes[i]] };
    offset += sizes[i];
  });
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json);
  const fd = openSync(path, "w");
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(head.length), 0);
    writeSync(fd, len);
    writeSync(fd, head);
    entries.forEach((t, i) => {
      const d = t.data();
      let written = 0;
      for (const b of d instanceof Uint8Array ? [d] : d) {
        for (let o = 0; o < b.byteLength;) o += writeSync(fd, b, o, Math.min(b.byteLength - o, 1 << 30));
        written += b.byteLength;
      }
      if (written !== sizes[i])
        throw new Error(`${t.name}: ${t.dtype} [${t.shape}] needs ${sizes[i]} bytes, got ${written}`);
    });
  } finally {
    closeSync(fd);
  }
  return 8 + head.length + offset;
}
