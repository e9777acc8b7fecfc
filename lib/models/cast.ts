// Conversions between f32 and the 16-bit float formats of weight files (no quantization: that is
// lib/engine/quant's job). One place for the bit tricks.
import { EngineError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half from a float, round to nearest even (handles subnormals, inf, NaN). */
export function toF16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** bfloat16 from a float, round to nearest even. */
export function toBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

export function castF32(data: Float32Array, type: number): Uint8Array {
  if (type === GgmlType.F32)
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint16Array(data.length);
  if (type === GgmlType.F16) for (let i = 0; i < data.length; i++) out[i] = toF16(data[i]);
  else if (type === GgmlType.BF16) for (let i = 0; i < data.length; i++) out[i] = toBf16(data[i]);
  else throw new EngineError(`castF32 writes f32, f16 or bf16, not type ${type}`);
  return new Uint8Array(out.buffer);
}

/** IEEE half bits to a float. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Little-endian f32/f16/bf16 bytes to floats (copies). */
export function floatBytesToF32(type: number, bytes: Uint8Array): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === GgmlType.F32)
    return Float32Array.from({ length: bytes.byteLength / 4 }, (_, i) => dv.getFloat32(i * 4, true));
  const n = bytes.byteLength / 2;
  const out = new Float32Array(n);
  if (type === GgmlType.F16) for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
  else if (type === GgmlType.BF16) {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16;
  } else throw new EngineError(`floatBytesToF32 reads f32, f16 or bf16, not type ${type}`);
  return out;
}
