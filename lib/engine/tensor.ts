// A handle on one ggml tensor (struct ggml_tensor in native memory). Fields are read at their byte offsets,
// which test/engine/layout.test.ts checks against the C headers of the bundled ggml source.
import { EngineError } from "../util/errors.js";
import { GgmlType, ggmlTypeName } from "../gguf/ggml-types.js";
import { ggml, peek, poke, type Ptr } from "./ffi.js";
import { privateLayoutOf } from "./private-layout.js";

/** Byte offsets inside struct ggml_tensor of this ggml release (GGML_MAX_DIMS 4, GGML_MAX_SRC 10). */
export const TENSOR_LAYOUT = {
  type: 0,
  buffer: 8,
  ne: 16,
  nb: 48,
  op: 80,
  op_params: 84,
  flags: 148,
  src: 152,
  view_src: 232,
  view_offs: 240,
  data: 248,
  name: 256,
  extra: 320,
  size: 336,
} as const;
export const MAX_SRC = 10;
export const MAX_NAME = 64;

export const TensorFlag = { INPUT: 1, OUTPUT: 2, PARAM: 4, LOSS: 8, COMPUTE: 16 } as const;

type TypedData =
  Float32Array | Int32Array | Uint8Array | Uint16Array | Int8Array | Int16Array | BigInt64Array;

export class Tensor {
  constructor(readonly ptr: Ptr) {}

  get type(): number {
    return peek<number>(this.ptr, TENSOR_LAYOUT.type, "int");
  }
  get typeName(): string {
    return ggmlTypeName(this.type);
  }
  /** Elements per dimension, ggml order (ne[0] is the row length), always 4 entries. */
  get ne(): [number, number, number, number] {
    const o = TENSOR_LAYOUT.ne;
    return [0, 1, 2, 3].map((i) => Number(peek<bigint | number>(this.ptr, o + 8 * i, "int64_t"))) as [
      number,
      number,
      number,
      number,
    ];
  }
  /** Strides in bytes, ggml order. */
  get nb(): [number, number, number, number] {
    const o = TENSOR_LAYOUT.nb;
    return [0, 1, 2, 3].map((i) => Number(peek<bigint | number>(this.ptr, o + 8 * i, "size_t"))) as [
      number,
      number,
      number,
      number,
    ];
  }
  /** ne without trailing 1s (at least one entry). */
  get shape(): number[] {
    const ne = this.ne.slice();
    while (ne.length > 1 && ne[ne.length - 1] === 1) ne.pop();
    return ne;
  }
  get nelements(): number {
    const [a, b, c, d] = this.ne;
    return a * b * c * d;
  }
  get nbytes(): number {
    return ggml().ggml_nbytes(this.ptr);
  }
  get op(): number {
    return peek<number>(this.ptr, TENSOR_LAYOUT.op, "int");
  }
  get flags(): number {
    return peek<number>(this.ptr, TENSOR_LAYOUT.flags, "int32_t");
  }
  /** Sets flag bits (TensorFlag) in place. */
  addFlags(bits: number): void {
    poke(this.ptr, TENSOR_LAYOUT.flags, "int32_t", this.flags | bits);
  }
  src(i: number): Tensor | null {
    const p = peek<Ptr | null>(this.ptr, TENSOR_LAYOUT.src + 8 * i, "void*");
    return p ? new Tensor(p) : null;
  }
  setSrc(i: number, t: Tensor | null): void {
    poke(this.ptr, TENSOR_LAYOUT.src + 8 * i, "void*", t ? t.ptr : null);
  }
  /** op_params[i] as int32 (e.g. the unary op kind). */
  opParam(i: number): number {
    return peek<number>(this.ptr, TENSOR_LAYOUT.op_params + 4 * i, "int32_t");
  }
  setOp(op: number): void {
    poke(this.ptr, TENSOR_LAYOUT.op, "int", op);
  }
  get buffer(): Ptr | null {
    return peek<Ptr | null>(this.ptr, TENSOR_LAYOUT.buffer, "void*");
  }
  /** The tensor this one is a view of, or null. */
  get viewSrc(): Tensor | null {
    const p = peek<Ptr | null>(this.ptr, TENSOR_LAYOUT.view_src, "void*");
    return p ? new Tensor(p) : null;
  }
  get data(): Ptr | null {
    return peek<Ptr | null>(this.ptr, TENSOR_LAYOUT.data, "void*");
  }
  get name(): string {
    return ggml().ggml_get_name(this.ptr);
  }
  setName(name: string): this {
    if (Buffer.byteLength(name) >= MAX_NAME) name = name.slice(0, 40) + "…" + name.slice(-15);
    ggml().ggml_set_name(this.ptr, name);
    return this;
  }
  /** Contiguous in memory, rows packed (what reshape and raw data I/O need). */
  get isContiguous(): boolean {
    const ne = this.ne;
    const nb = this.nb;
    const g = ggml();
    let expected = g.ggml_type_size(this.type);
    if (nb[0] !== expected) return false;
    expected = g.ggml_row_size(this.type, ne[0]);
    for (let i = 1; i < 4; i++) {
      if (ne[i] !== 1 && nb[i] !== expected) return false;
      expected *= ne[i];
    }
    return true;
  }
  equals(other: Tensor): boolean {
    return this.ptr === other.ptr;
  }

  private requireAllocated(what: string): void {
    if (!this.buffer && !this.data)
      throw new EngineError(`tensor "${this.name}" has no memory yet (${what})`);
  }

  /** Copies host data into the tensor (any backend). The byte size must equal the tensor's. */
  set(data: TypedData, byteOffset = 0): this {
    this.requireAllocated("set");
    if (byteOffset + data.byteLength > this.nbytes)
      throw new EngineError(
        `tensor "${this.name}": writing ${data.byteLength} bytes at ${byteOffset} overruns its ${this.nbytes} bytes`,
      );
    // A private-layout buffer repacks on write and asserts unless the whole tensor comes at once.
    const layout = privateLayoutOf(this);
    if (layout && (byteOffset !== 0 || data.byteLength !== this.nbytes || this.viewSrc))
      throw new EngineError(`tensor "${this.name}" in ${layout} can only be written whole, in one call`);
    ggml().ggml_backend_tensor_set(this.ptr, data, byteOffset, data.byteLength);
    return this;
  }
  /** Fills the whole tensor with one byte value (0 for zeros). */
  fillBytes(value = 0): this {
    this.requireAllocated("fill");
    const layout = privateLayoutOf(this);
    if (layout)
      throw new EngineError(`tensor "${this.name}" in ${layout} holds a private layout; it cannot be filled`);
    ggml().ggml_backend_tensor_memset(this.ptr, value, 0, this.nbytes);
    return this;
  }
  /** Copies the raw bytes out. */
  bytes(): Uint8Array {
    this.requireAllocated("read");
    const layout = privateLayoutOf(this);
    if (layout)
      throw new EngineError(
        `tensor "${this.name}" in ${layout} holds a private layout; it cannot be read back`,
      );
    const out = new Uint8Array(this.nbytes);
    ggml().ggml_backend_tensor_get(this.ptr, out, 0, out.byteLength);
    return out;
  }
  /** Copies an F32 tensor out. */
  f32(): Float32Array {
    if (this.type !== GgmlType.F32)
      throw new EngineError(`tensor "${this.name}" is ${this.typeName}, not f32`);
    const b = this.bytes();
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }
  /** Copies an I32 tensor out. */
  i32(): Int32Array {
    if (this.type !== GgmlType.I32)
      throw new EngineError(`tensor "${this.name}" is ${this.typeName}, not i32`);
    const b = this.bytes();
    return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }
  /** The first element of an F32 tensor (losses, norms). */
  scalar(): number {
    return this.f32()[0];
  }
  toString(): string {
    return `${this.name || "tensor"}[${this.shape.join("×")} ${this.typeName}]`;
  }
}
