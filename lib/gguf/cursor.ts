// A bounds-checked little-endian reader over the bytes of a GGUF header. Every length is checked against
// the bytes that remain before anything is allocated, and every failure names the file and the offset.
import { InputError } from "../util/errors.js";
import {
  GgufValueType,
  MAX_ARRAY_DEPTH,
  TYPED_ARRAYS,
  fixedSize,
  ggufTypeName,
  isGgufValueType,
} from "./values.js";
import type { GgufArray, GgufMetadataValue } from "./values.js";

// ignoreBOM: a token may be exactly U+FEFF, which the default decoder would silently drop.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

const CORRUPT = ": the file is truncated or corrupt";

export class Cursor {
  pos = 0;
  private readonly dv: DataView;

  constructor(
    /** The header bytes (the start of the file, possibly not all of it). */
    readonly bytes: Uint8Array,
    /** The file, for messages. */
    readonly file: string,
    /** Size of the whole file: reads past `bytes` but inside the file mean the header is too large. */
    readonly fileSize: number,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** An InputError naming the file, `what`, and the byte offset `at` (null: no particular byte). */
  error(what: string, at: number | null = this.pos): InputError {
    return new InputError(at === null ? what : `${what} (at byte ${at})`, { file: this.file });
  }

  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  /** Throws unless `n` more bytes exist; `what` says what was being read. */
  need(n: number | bigint, what: string): void {
    if (BigInt(n) <= BigInt(this.remaining)) return;
    if (this.bytes.byteLength < this.fileSize && BigInt(n) <= BigInt(this.fileSize - this.pos)) {
      throw this.error(
        `${what}: the header is larger than the ${this.bytes.byteLength} bytes this reader maps at once`,
      );
    }
    throw this.error(
      `${what} needs ${n} bytes but only ${this.remaining} remain: the file is truncated or corrupt`,
    );
  }

  u8(what: string): number {
    this.need(1, what);
    return this.dv.getUint8(this.pos++);
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(what: string): number {
    this.need(4, what);
    const v = this.dv.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  i64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A count (u64) of items of at least `minItemBytes` each, checked against the remaining bytes. */
  count(what: string, minItemBytes: number): number {
    const at = this.pos;
    const n = this.u64(what);
    if (n * BigInt(minItemBytes) > BigInt(this.remaining)) {
      throw this.error(
        `${what} is ${n}, more than the ${this.remaining} remaining bytes can hold${CORRUPT}`,
        at,
      );
    }
    return Number(n);
  }

  /** A GGUF string: u64 length + UTF-8 bytes (invalid UTF-8 is decoded with U+FFFD). */
  string(what: string): string {
    const at = this.pos;
    const n = this.u64(`length of ${what}`);
    if (n > BigInt(this.remaining)) {
      throw this.error(`${what} claims ${n} bytes but only ${this.remaining} remain${CORRUPT}`, at);
    }
    const s = utf8.decode(this.bytes.subarray(this.pos, this.pos + Number(n)));
    this.pos += Number(n);
    return s;
  }

  /** A metadata value of type `t` (already read). `key` names it in messages. */
  value(t: number, key: string): GgufMetadataValue {
    if (!isGgufValueType(t)) throw this.error(`metadata "${key}" has unknown value type ${t}`, this.pos - 4);
    if (t === GgufValueType.ARRAY) return { type: t, value: this.array(key, 0) };
    const what = `metadata "${key}"`;
    const dv = this.dv;
    const size = fixedSize(t);
    if (t === GgufValueType.STRING) return { type: t, value: this.string(what) };
    this.need(size, what);
    const p = this.pos;
    this.pos += size;
    switch (t) {
      case GgufValueType.UINT8: return { type: t, value: dv.getUint8(p) };
      case GgufValueType.INT8: return { type: t, value: dv.getInt8(p) };
      case GgufValueType.UINT16: return { type: t, value: dv.getUint16(p, true) };
      case GgufValueType.INT16: return { type: t, value: dv.getInt16(p, true) };
      case GgufValueType.UINT32: return { type: t, value: dv.getUint32(p, true) };
      case GgufValueType.INT32: return { type: t, value: dv.getInt32(p, true) };
      case GgufValueType.FLOAT32: return { type: t, value: dv.getFloat32(p, true) };
      case GgufValueType.FLOAT64: return { type: t, value: dv.getFloat64(p, true) };
      case GgufValueType.UINT64: return { type: t, value: dv.getBigUint64(p, true) };
      case GgufValueType.INT64: return { type: t, value: dv.getBigInt64(p, true) };
      case GgufValueType.BOOL: return { type: t, value: this.bool(dv.getUint8(p), key, p) };
    } // prettier-ignore
  }

  private bool(byte: number, key: string, at: number): boolean {
    // Only 0 and 1 round-trip exactly; anything else is a corrupt file.
    if (byte > 1) throw this.error(`metadata "${key}" has a bool byte ${byte} (expected 0 or 1)`, at);
    return byte === 1;
  }

  /** Element type (i32) + count (u64) + items; nested arrays recurse up to MAX_ARRAY_DEPTH. */
  private array(key: string, depth: number): GgufArray {
    if (depth >= MAX_ARRAY_DEPTH)
      throw this.error(`metadata "${key}" nests arrays deeper than ${MAX_ARRAY_DEPTH}`);
    const at = this.pos;
    const t = this.i32(`element type of array "${key}"`);
    if (!isGgufValueType(t)) throw this.error(`metadata "${key}" is an array of unknown value type ${t}`, at);
    // Smallest encoding of one item: fixed size, 8 (string length), 12 (nested type + count).
    const minItem = t === GgufValueType.STRING ? 8 : t === GgufValueType.ARRAY ? 12 : fixedSize(t);
    const n = this.count(`length of array "${key}" (${ggufTypeName(t)})`, minItem);
    if (t === GgufValueType.ARRAY) {
      const items: GgufArray[] = [];
      for (let i = 0; i < n; i++) items.push(this.array(`${key}[${i}]`, depth + 1));
      return { elementType: t, items };
    }
    if (t === GgufValueType.STRING) {
      const items: string[] = new Array(n);
      for (let i = 0; i < n; i++) items[i] = this.string(`item ${i} of "${key}"`);
      return { elementType: t, items };
    }
    if (t === GgufValueType.BOOL) {
      const items: boolean[] = new Array(n);
      for (let i = 0; i < n; i++)
        items[i] = this.bool(this.bytes[this.pos + i], `${key}[${i}]`, this.pos + i);
      this.pos += n;
      return { elementType: t, items };
    }
    // Numeric: copy the bytes (the copy is aligned, and outlives the mapping), then view them typed.
    const nbytes = n * fixedSize(t);
    const copy = this.bytes.slice(this.pos, this.pos + nbytes);
    this.pos += nbytes;
    const Ctor = TYPED_ARRAYS[t] as unknown as new (
      b: ArrayBuffer,
      o: number,
      n: number,
    ) => ArrayLike<unknown>;
    return { elementType: t, items: new Ctor(copy.buffer, 0, n) } as GgufArray;
  }
}
