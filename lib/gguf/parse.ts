// Parses the GGUF header (magic, version, metadata, tensor infos) from the bytes at the start of a file,
// with the same acceptance rules as ggml's gguf.cpp plus a few stricter ones that protect the caller
// (safe-integer shapes, non-overlapping tensor data, bool bytes 0/1, nesting depth).
import { endianness } from "node:os";
import { InputError } from "../util/errors.js";
import { Cursor } from "./cursor.js";
import { blockSize, ggmlTypeName, isGgmlType, typeSize } from "./ggml-types.js";
import type { GgmlType } from "./ggml-types.js";
import { GgufValueType, ggufTypeName } from "./values.js";
import type { GgufMetadataValue } from "./values.js";

/** GGUF magic "GGUF" read as a little-endian u32. */
const MAGIC = 0x46554747;
/** Default data alignment when general.alignment is absent (gguf.h GGUF_DEFAULT_ALIGNMENT). */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Longest tensor name in bytes (GGML_MAX_NAME 64, including the terminating NUL). */
export const GGUF_MAX_NAME_BYTES = 63;
/** Most tensor dimensions (GGML_MAX_DIMS). */
export const GGML_MAX_DIMS = 4;

/** One tensor as described by the header. */
export interface GgufTensorInfo {
  /** Tensor name, e.g. "blk.0.attn_q.weight". */
  name: string;
  /** ggml type id (see GgmlType). */
  type: GgmlType;
  /** Dimensions in ggml ne order: shape[0] is the row length (the contiguous one). Length 0..4. */
  shape: number[];
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  /** Size of the tensor data in bytes. */
  nbytes: number;
}

/** Everything in a GGUF file except the tensor data. */
export interface GgufHeader {
  /** GGUF format version (2 or 3). */
  version: number;
  /** Data alignment in bytes (general.alignment, default 32). */
  alignment: number;
  /** Metadata in file order, each value with its GGUF type. */
  metadata: Map<string, GgufMetadataValue>;
  /** Tensor infos in file order. */
  tensors: GgufTensorInfo[];
  /** Absolute offset of the tensor data section (the aligned end of the header). */
  dataOffset: number;
}

/**
 * Parses a GGUF header from `bytes` (the start of the file `file`, whose full size is `fileSize`).
 * Throws an InputError naming the file and the problem for anything malformed.
 */
export function parseGgufHeader(bytes: Uint8Array, fileSize: number, file: string): GgufHeader {
  if (endianness() !== "LE") throw new InputError("GGUF reading needs a little-endian machine", { file });
  const c = new Cursor(bytes, file, fileSize);
  if (fileSize < 4) throw c.error(`not a GGUF file: only ${fileSize} bytes`, null);
  const magic = c.u32("magic");
  if (magic !== MAGIC) {
    const shown = [...bytes.subarray(0, 4)]
      .map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : "?"))
      .join("");
    throw c.error(`not a GGUF file: magic is "${shown}", expected "GGUF"`, 0);
  }
  const version = readVersion(c);
  const nTensors = c.count("tensor count", 24); // name length 8 + n_dims 4 + type 4 + offset 8
  const nKv = c.count("metadata key-value count", 13); // key length 8 + type 4 + 1 byte of value

  const metadata = new Map<string, GgufMetadataValue>();
  for (let i = 0; i < nKv; i++) {
    const at = c.pos;
    const key = c.string(`metadata key ${i}`);
    if (key.length === 0) throw c.error(`metadata key ${i} is empty`, at);
    if (metadata.has(key)) throw c.error(`duplicate metadata key "${key}"`, at);
    metadata.set(key, c.value(c.i32(`value type of "${key}"`), key));
  }
  const alignment = readAlignment(c, metadata);

  const tensors: GgufTensorInfo[] = [];
  const relOffsets: bigint[] = [];
  const sizes: bigint[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = c.pos;
    const name = c.string(`name of tensor ${i}`);
    if (Buffer.byteLength(name) > GGUF_MAX_NAME_BYTES) {
      throw c.error(
        `tensor ${i} name "${name.slice(0, 80)}" is longer than ${GGUF_MAX_NAME_BYTES} bytes`,
        at,
      );
    }
    if (names.has(name)) throw c.error(`duplicate tensor name "${name}"`, at);
    names.add(name);
    const { type, shape, nbytes } = readTensorShapeAndType(c, name);
    relOffsets.push(c.u64(`data offset of tensor "${name}"`));
    sizes.push(nbytes);
    tensors.push({ name, type, shape, offset: 0, nbytes: 0 });
  }

  const headerEnd = c.pos;
  const dataOffset = alignUp(headerEnd, alignment);
  if (nTensors > 0 && dataOffset > fileSize) {
    throw c.error(
      `the tensor data section would start at byte ${dataOffset}, past the end of the file (${fileSize} bytes)`,
      null,
    );
  }
  placeTensors(c, tensors, relOffsets, sizes, dataOffset, alignment);
  return { version, alignment, metadata, tensors, dataOffset };
}

function readVersion(c: Cursor): number {
  const version = c.u32("version");
  if (version === 1)
    throw c.error("GGUF version 1 is not supported (llama.cpp dropped it); convert the file again", 4);
  if (version !== 0 && (version & 0xffff) === 0) {
    throw c.error(`GGUF version ${version} looks byte-swapped: big-endian GGUF files are not supported`, 4);
  }
  if (version !== 2 && version !== 3) throw c.error(`unknown GGUF version ${version} (supported: 2, 3)`, 4);
  return version;
}

function readAlignment(c: Cursor, metadata: Map<string, GgufMetadataValue>): number {
  const v = metadata.get("general.alignment");
  if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
  if (v.type !== GgufValueType.UINT32) {
    throw c.error(`metadata "general.alignment" must be u32, not ${ggufTypeName(v.type)}`, null);
  }
  if (v.value === 0 || (v.value & (v.value - 1)) !== 0) {
    throw c.error(`metadata "general.alignment" is ${v.value}, not a power of two`, null);
  }
  return v.value;
}

function readTensorShapeAndType(
  c: Cursor,
  name: string,
): { type: GgmlType; shape: number[]; nbytes: bigint } {
  const at = c.pos;
  const nDims = c.u32(`dimension count of tensor "${name}"`);
  if (nDims > GGML_MAX_DIMS)
    throw c.error(`tensor "${name}" has ${nDims} dimensions (at most ${GGML_MAX_DIMS})`, at);
  const shape: number[] = [];
  let elements = 1n;
  for (let j = 0; j < nDims; j++) {
    const dimAt = c.pos;
    const d = c.i64(`dimension ${j} of tensor "${name}"`);
    if (d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw c.error(`tensor "${name}" dimension ${j} is ${d}`, dimAt);
    }
    shape.push(Number(d));
    elements *= d;
  }
  if (elements >= 2n ** 63n)
    throw c.error(`tensor "${name}" shape [${shape}] has more than 2^63 elements`, at);
  const typeAt = c.pos;
  const type = c.i32(`type of tensor "${name}"`);
  if (!isGgmlType(type)) throw c.error(`tensor "${name}" has unknown or removed ggml type ${type}`, typeAt);
  const blck = blockSize(type);
  const ne0 = shape.length ? shape[0] : 1;
  if (ne0 % blck !== 0) {
    throw c.error(
      `tensor "${name}" (${ggmlTypeName(type)}) has rows of ${ne0} elements, not a multiple of ${blck}`,
      at,
    );
  }
  return { type, shape, nbytes: (elements / BigInt(blck)) * BigInt(typeSize(type)) };
}

/** Resolves absolute offsets; checks alignment, bounds and that no two tensors' data overlap. */
function placeTensors(
  c: Cursor,
  tensors: GgufTensorInfo[],
  rel: bigint[],
  sizes: bigint[],
  dataOffset: number,
  alignment: number,
) {
  tensors.forEach((t, i) => {
    if (rel[i] % BigInt(alignment) !== 0n) {
      throw c.error(
        `tensor "${t.name}" data offset ${rel[i]} is not a multiple of the alignment ${alignment}`,
        null,
      );
    }
    const end = BigInt(dataOffset) + rel[i] + sizes[i];
    if (end > BigInt(c.fileSize)) {
      throw c.error(
        `tensor "${t.name}" data (${sizes[i]} bytes at data offset ${rel[i]}) ends at byte ${end}, ` +
          `past the end of the file (${c.fileSize} bytes)`,
        null,
      );
    }
    t.offset = dataOffset + Number(rel[i]);
    t.nbytes = Number(sizes[i]);
  });
  const byStart = tensors.filter((t) => t.nbytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1];
    if (byStart[i].offset < prev.offset + prev.nbytes) {
      throw c.error(`tensors "${prev.name}" and "${byStart[i].name}" have overlapping data`, null);
    }
  }
}

/** `n` rounded up to a multiple of `alignment` (a power of two). */
export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
