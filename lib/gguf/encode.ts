// Little-endian encoding of GGUF header pieces into a growable byte buffer.
import { GgufValueType, fixedSize } from "./values.js";
import type { GgufArray, GgufMetadataValue } from "./values.js";

const utf8 = new TextEncoder();

export class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  u8(v: number) {
    const at = this.reserve(1);
    this.dv.setUint8(at, v);
  }
  u32(v: number) {
    const at = this.reserve(4);
    this.dv.setUint32(at, v, true);
  }
  i32(v: number) {
    const at = this.reserve(4);
    this.dv.setInt32(at, v, true);
  }
  u64(v: number | bigint) {
    const at = this.reserve(8);
    this.dv.setBigUint64(at, BigInt(v), true);
  }
  i64(v: number | bigint) {
    const at = this.reserve(8);
    this.dv.setBigInt64(at, BigInt(v), true);
  }
  bytes(b: Uint8Array) {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  string(s: string) {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  /** Zero bytes up to the next multiple of `alignment`. */
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n); // the buffer is zero-filled and never reused
  }

  /** Type (i32) and value of a metadata entry. */
  value(v: GgufMetadataValue): void {
    this.i32(v.type);
    if (v.type === GgufValueType.ARRAY) return this.array(v.value);
    const at = this.reserve(fixedSize(v.type));
    const dv = this.dv;
    switch (v.type) {
      case GgufValueType.UINT8: return dv.setUint8(at, v.value);
      case GgufValueType.INT8: return dv.setInt8(at, v.value);
      case GgufValueType.UINT16: return dv.setUint16(at, v.value, true);
      case GgufValueType.INT16: return dv.setInt16(at, v.value, true);
      case GgufValueType.UINT32: return dv.setUint32(at, v.value, true);
      case GgufValueType.INT32: return dv.setInt32(at, v.value, true);
      case GgufValueType.FLOAT32: return dv.setFloat32(at, v.value, true);
      case GgufValueType.FLOAT64: return dv.setFloat64(at, v.value, true);
      case GgufValueType.UINT64: return dv.setBigUint64(at, v.value, true);
      case GgufValueType.INT64: return dv.setBigInt64(at, v.value, true);
      case GgufValueType.BOOL: return dv.setUint8(at, v.value ? 1 : 0);
      case GgufValueType.STRING: return this.string(v.value);
    } // prettier-ignore
  }

  /** Element type (i32), count (u64), items. */
  private array(a: GgufArray): void {
    this.i32(a.elementType);
    this.u64(a.items.length);
    switch (a.elementType) {
      case GgufValueType.ARRAY: return a.items.forEach((inner) => this.array(inner));
      case GgufValueType.STRING: return a.items.forEach((s) => this.string(s));
      case GgufValueType.BOOL: return a.items.forEach((b) => this.u8(b ? 1 : 0));
      default: // typed arrays hold little-endian bytes on the little-endian machines this runs on
        return this.bytes(new Uint8Array(a.items.buffer, a.items.byteOffset, a.items.byteLength));
    } // prettier-ignore
  }

  /** The bytes written so far (a view; do not write more afterwards). */
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
