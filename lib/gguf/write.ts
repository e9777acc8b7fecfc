// Writes a GGUF v3 (or v2) file with llama.cpp's layout: header, metadata, tensor infos, zero padding to
// the alignment, then each tensor's data followed by zero padding to the alignment (the last one too).
// Tensor data may be produced lazily, one tensor at a time, so that memory stays bounded.
import { closeSync, openSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { writeAtomically } from "../util/atomic.js";
import { TunekitError } from "../util/errors.js";
import { ByteWriter } from "./encode.js";
import { isGgmlType, tensorBytes } from "./ggml-types.js";
import { GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAX_NAME_BYTES, alignUp } from "./parse.js";
import { GgufValueType, gguf, validateValue } from "./values.js";
import type { GgufMetadataValue } from "./values.js";

/** One tensor to write. */
export interface GgufTensorToWrite {
  /** Tensor name (at most 63 UTF-8 bytes, unique in the file). */
  name: string;
  /** ggml type id (GgmlType). */
  type: number;
  /** Dimensions in ggml ne order (shape[0] is the row length); 0 to 4 of them. */
  shape: readonly number[];
  /** The tensor bytes, or a function producing them when the tensor is written (may be async). */
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

/** What to write. */
export interface WriteGgufOptions {
  /** Metadata in the order to write it: a Map, [key, value] pairs, or a plain object. */
  metadata:
    | Map<string, GgufMetadataValue>
    | Iterable<[string, GgufMetadataValue]>
    | Record<string, GgufMetadataValue>;
  /** Tensors in the order to write them. */
  tensors: readonly GgufTensorToWrite[];
  /**
   * Data alignment (a power of two). Default: general.alignment from the metadata, else 32.
   * A non-default alignment not in the metadata is added to it as general.alignment (u32).
   */
  alignment?: number;
  /** GGUF version to write: 3 (default) or 2, which has the same layout. */
  version?: 2 | 3;
}

/** What was written. */
export interface WriteGgufResult {
  /** File size in bytes. */
  bytes: number;
  /** Absolute offset of the tensor data section. */
  dataOffset: number;
}

/** Chunk size for writing large tensors (bounded write calls; no second copy of the data). */
const CHUNK = 64 << 20;

/**
 * Writes a GGUF file atomically (temporary sibling + rename): on any error, including a throwing lazy
 * data callback, nothing is left at `path`. Validates names, shapes, types, data sizes and metadata.
 */
export async function writeGguf(path: string, opts: WriteGgufOptions): Promise<WriteGgufResult> {
  if (endianness() !== "LE") throw new TunekitError("GGUF writing needs a little-endian machine");
  const metadata = toMap(opts.metadata);
  const alignment = resolveAlignment(metadata, opts.alignment);
  const version = opts.version ?? 3;
  if (version !== 2 && version !== 3) throw new TunekitError(`cannot write GGUF version ${String(version)}`);
  const sizes = validateTensors(opts.tensors);

  const header = new ByteWriter();
  header.bytes(new TextEncoder().encode("GGUF"));
  header.u32(version);
  header.i64(opts.tensors.length);
  header.i64(metadata.size);
  for (const [key, value] of metadata) {
    header.string(key);
    header.value(value);
  }
  let rel = 0;
  opts.tensors.forEach((t, i) => {
    header.string(t.name);
    header.u32(t.shape.length);
    for (const d of t.shape) header.i64(d);
    header.i32(t.type);
    header.u64(rel);
    rel += alignUp(sizes[i], alignment);
  });
  header.pad(alignment);
  const dataOffset = header.length;

  await writeAtomically(path, async (tmp) => {
    const fd = openSync(tmp, "w");
    try {
      writeAll(fd, header.result());
      const padding = new Uint8Array(alignment);
      for (let i = 0; i < opts.tensors.length; i++) {
        const t = opts.tensors[i];
        const data = typeof t.data === "function" ? await t.data() : t.data;
        if (!(data instanceof Uint8Array))
          throw new TunekitError(`tensor "${t.name}": data is not a Uint8Array`);
        if (data.byteLength !== sizes[i]) {
          throw new TunekitError(
            `tensor "${t.name}": data has ${data.byteLength} bytes, but type ${t.type} and shape [${t.shape}] need ${sizes[i]}`,
          );
        }
        for (let off = 0; off < data.byteLength; off += CHUNK) writeAll(fd, data.subarray(off, off + CHUNK));
        writeAll(fd, padding.subarray(0, alignUp(sizes[i], alignment) - sizes[i]));
      }
    } finally {
      closeSync(fd);
    }
  });
  return { bytes: dataOffset + rel, dataOffset };
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.byteLength;) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

function toMap(m: WriteGgufOptions["metadata"]): Map<string, GgufMetadataValue> {
  const entries: Iterable<[string, GgufMetadataValue]> =
    m instanceof Map
      ? m
      : Symbol.iterator in m
        ? (m as Iterable<[string, GgufMetadataValue]>)
        : Object.entries(m);
  const out = new Map<string, GgufMetadataValue>();
  for (const [key, value] of entries) {
    if (typeof key !== "string" || key.length === 0)
      throw new TunekitError("metadata keys must be non-empty strings");
    if (out.has(key)) throw new TunekitError(`duplicate metadata key "${key}"`);
    validateValue(value, key);
    out.set(key, value);
  }
  return out;
}

function resolveAlignment(metadata: Map<string, GgufMetadataValue>, requested: number | undefined): number {
  const v = metadata.get("general.alignment");
  if (v !== undefined && v.type !== GgufValueType.UINT32) {
    throw new TunekitError(`metadata "general.alignment" must be u32 (llama.cpp rejects other types)`);
  }
  const fromMeta = v?.value;
  if (requested !== undefined && fromMeta !== undefined && requested !== fromMeta) {
    throw new TunekitError(`alignment ${requested} differs from metadata general.alignment ${fromMeta}`);
  }
  const alignment = requested ?? fromMeta ?? GGUF_DEFAULT_ALIGNMENT;
  if (
    !Number.isInteger(alignment) ||
    alignment <= 0 ||
    alignment > 2 ** 31 ||
    (alignment & (alignment - 1)) !== 0
  ) {
    throw new TunekitError(`alignment must be a power of two, got ${alignment}`);
  }
  if (fromMeta === undefined && alignment !== GGUF_DEFAULT_ALIGNMENT) {
    metadata.set("general.alignment", gguf.u32(alignment));
  }
  return alignment;
}

/** Checks every tensor before anything is written; returns each tensor's byte size. */
function validateTensors(tensors: readonly GgufTensorToWrite[]): number[] {
  const names = new Set<string>();
  return tensors.map((t, i) => {
    const what = `tensor ${i} "${String(t.name)}"`;
    if (typeof t.name !== "string" || t.name.length === 0)
      throw new TunekitError(`${what}: name must be non-empty`);
    if (Buffer.byteLength(t.name) > GGUF_MAX_NAME_BYTES) {
      throw new TunekitError(`${what}: name is longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    }
    if (names.has(t.name)) throw new TunekitError(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    if (!isGgmlType(t.type)) throw new TunekitError(`${what}: unknown or removed ggml type ${t.type}`);
    if (!Array.isArray(t.shape) || t.shape.length > GGML_MAX_DIMS) {
      throw new TunekitError(`${what}: shape must have 0 to ${GGML_MAX_DIMS} dimensions`);
    }
    try {
      return tensorBytes(t.type, t.shape);
    } catch (err) {
      throw new TunekitError(`${what}: ${(err as Error).message}`);
    }
  });
}
