// A minimal protocol-buffers wire-format reader: enough to walk the fields of a message (SentencePiece's
// ModelProto) and skip the ones we do not need. Every read is bounds-checked.
import { InputError } from "../util/errors.js";

/** Wire types of protobuf fields. */
export const Wire = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

/** One field of a message. */
export interface ProtoField {
  field: number;
  wire: number;
  /** VARINT value (as bigint: int64 and negative int32 use all 64 bits). */
  varint?: bigint;
  /** LEN payload (a view into the message), or the 4/8 raw bytes of I32/I64. */
  bytes?: Uint8Array;
}

/** Iterate over the fields of one encoded message. `where` names the source in error messages. */
export function* protoFields(buf: Uint8Array, where: string): Generator<ProtoField> {
  let pos = 0;
  const fail = (msg: string): never => {
    throw new InputError(`malformed protobuf at byte ${pos}: ${msg}`, { file: where });
  };
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) fail("truncated varint");
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result & 0xffffffffffffffffn;
    }
    return fail("varint longer than 10 bytes");
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > buf.length)
      fail(`field of ${n} bytes runs past the end (${buf.length - pos} left)`);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) fail("field number 0");
    switch (wire) {
      case Wire.VARINT:
        yield { field, wire, varint: varint() };
        break;
      case Wire.I64:
        yield { field, wire, bytes: take(8) };
        break;
      case Wire.LEN: {
        const len = varint();
        if (len > BigInt(buf.length)) fail(`length ${len} larger than the message`);
        yield { field, wire, bytes: take(Number(len)) };
        break;
      }
      case Wire.I32:
        yield { field, wire, bytes: take(4) };
        break;
      default:
        fail(`unsupported wire type ${wire} (field ${field})`);
    }
  }
}

/** A VARINT as a signed 32-bit integer (protobuf int32 / enum). */
export function asInt32(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

/** The float of an I32 field. */
export function asFloat32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

/** A LEN field as UTF-8 text. */
export function asString(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}
