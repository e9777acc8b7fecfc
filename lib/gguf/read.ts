// Opens a GGUF file (v2/v3) memory-mapped: the header is parsed once into plain JS values, tensor data
// stays in the mapping and is handed out as zero-copy views.
import { InputError, TunekitError } from "../util/errors.js";
import { MAX_VIEW_BYTES, MappedFile } from "./mmap.js";
import { parseGgufHeader } from "./parse.js";
import type { GgufHeader, GgufTensorInfo } from "./parse.js";
import { ggufTypeName, toPlain } from "./values.js";
import type { GgufMetadataValue, GgufPlainValue } from "./values.js";

export type { GgufTensorInfo } from "./parse.js";

/** An open GGUF file. Metadata and tensor infos are plain copies; tensor data are views of the mapping. */
export class GgufFile {
  /** GGUF format version (2 or 3). */
  readonly version: number;
  /** Data alignment in bytes (general.alignment, default 32). */
  readonly alignment: number;
  /** Metadata in file order; each value keeps its GGUF type, so writing it back gives the same bytes. */
  readonly metadata: Map<string, GgufMetadataValue>;
  /** Tensor infos in file order. */
  readonly tensors: GgufTensorInfo[];
  /** Absolute offset of the tensor data section. */
  readonly dataOffset: number;
  private readonly byName: Map<string, GgufTensorInfo>;

  constructor(
    private readonly map: MappedFile,
    header: GgufHeader,
  ) {
    this.version = header.version;
    this.alignment = header.alignment;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.dataOffset = header.dataOffset;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /** The file's path. */
  get path(): string {
    return this.map.path;
  }

  /** The file's size in bytes. */
  get fileSize(): number {
    return this.map.size;
  }

  /** The value of `key` as plain JS (see GgufPlainValue), or undefined when absent. */
  get(key: string): GgufPlainValue | undefined {
    const v = this.metadata.get(key);
    return v === undefined ? undefined : toPlain(v);
  }

  /** A string value; `fallback` when absent, or an InputError naming the file and key. */
  getString(key: string, fallback?: string): string {
    const v = this.metadata.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (v?.type === 8) return v.value;
    throw this.missing(key, "a string", v);
  }

  /** A numeric scalar (64-bit integers must be safe integers); `fallback` when absent. */
  getNumber(key: string, fallback?: number): number {
    const v = this.metadata.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (v && (typeof v.value === "number" || typeof v.value === "bigint")) {
      const n = Number(v.value);
      if (typeof v.value === "number" || Number.isSafeInteger(n)) return n;
    }
    throw this.missing(key, "a number", v);
  }

  private missing(key: string, want: string, v: GgufMetadataValue | undefined): InputError {
    const got = v === undefined ? "it is missing" : `it is ${ggufTypeName(v.type)}`;
    return new InputError(`metadata "${key}" should be ${want}, but ${got}`, { file: this.path });
  }

  /** The tensor info of `name`, or undefined. */
  tensor(name: string): GgufTensorInfo | undefined {
    return this.byName.get(name);
  }

  /**
   * The bytes of tensor `name`: a zero-copy view of the file (writes stay private to this process).
   * The view stays safe after close() (it then reads zeros); copy it if you need the data afterwards.
   */
  tensorData(name: string): Uint8Array {
    const t = this.byName.get(name);
    if (!t) throw new InputError(`no tensor named "${name}"`, { file: this.path });
    return this.map.view(t.offset, t.nbytes);
  }

  /**
   * Bytes [start, start+length) of tensor `name`, a zero-copy view like tensorData. For walking tensors
   * larger than the 4 GiB a single view may span, a block of rows at a time.
   */
  tensorDataRange(name: string, start: number, length: number): Uint8Array {
    const t = this.byName.get(name);
    if (!t) throw new InputError(`no tensor named "${name}"`, { file: this.path });
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(length) ||
      start < 0 ||
      length < 0 ||
      start + length > t.nbytes
    ) {
      throw new TunekitError(
        `${this.path}: range ${start}+${length} is outside tensor "${name}" (${t.nbytes} bytes)`,
      );
    }
    return this.map.view(t.offset + start, length);
  }

  /** Releases the file (see tensorData for what happens to views). Idempotent. */
  close(): void {
    this.map.close();
  }
}

/**
 * Opens and parses a GGUF file. Anything malformed (truncated, bad magic, v1 or unknown version,
 * absurd counts or lengths, unknown types, bad shapes, data past the end, duplicates, misaligned
 * offsets) throws an InputError naming the file and the problem; nothing large is allocated first.
 */
export function openGguf(path: string): GgufFile {
  const map = MappedFile.open(path);
  try {
    const header = parseGgufHeader(map.view(0, Math.min(map.size, MAX_VIEW_BYTES)), map.size, path);
    return new GgufFile(map, header);
  } catch (err) {
    map.close();
    if (err instanceof TunekitError) throw err;
    throw new InputError(`cannot read GGUF: ${(err as Error).message}`, { file: path });
  }
}
