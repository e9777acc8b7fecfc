// Read-only file mapping through libc mmap (koffi), so that multi-GB model files are paged in on demand
// instead of being read into the JS heap. Views of the mapping are zero-copy ArrayBuffers.
//
// Two hazards of raw mappings are designed away here:
// - Writing into a view would fault on a PROT_READ mapping; the mapping is MAP_PRIVATE with PROT_WRITE,
//   so a write only changes this process's private copy of that page, never the file.
// - Touching a view after munmap would crash the process. So close() only replaces the file pages by an
//   anonymous zero mapping at the same address (releasing the file at once); every view's ArrayBuffer
//   holds its MappedFile, and the address range is unmapped when the MappedFile is garbage collected,
//   which cannot happen while any view is alive.
import { closeSync, fstatSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import type * as Koffi from "koffi";
import { InputError, TunekitError } from "../util/errors.js";

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
const MAP_NORESERVE = 0x4000;
const MAP_FAILED = 0xffffffffffffffffn;

/** The largest single view koffi can hand out (larger external buffers abort Node). */
export const MAX_VIEW_BYTES = 2 ** 32;

interface Libc {
  koffi: typeof Koffi;
  mmap: (addr: bigint | null, len: number, prot: number, flags: number, fd: number, off: number) => bigint;
  munmap: (addr: bigint, len: number) => number;
}
let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  if (process.platform !== "linux")
    throw new TunekitError(`memory-mapped GGUF reading needs Linux (this is ${process.platform})`);
  const koffi = createRequire(import.meta.url)("koffi") as typeof Koffi;
  const lib = koffi.load("libc.so.6");
  libc = {
    koffi,
    mmap: lib.func("void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)"),
    munmap: lib.func("int munmap(void *addr, size_t len)"),
  };
  return libc;
}

/** Unmaps the address range of a MappedFile that was garbage collected (so no view of it is alive). */
const unmapOnCollect = new FinalizationRegistry<{ addr: bigint; size: number }>(({ addr, size }) => {
  loadLibc().munmap(addr, size);
});

const OWNER = Symbol("tunekit.mappedFile");

/** A file mapped into memory, read-only as far as the file is concerned. */
export class MappedFile {
  private released = false;

  private constructor(
    /** The path the mapping was made from (for messages). */
    readonly path: string,
    /** File size in bytes at the time of mapping. */
    readonly size: number,
    private readonly addr: bigint,
  ) {
    if (size > 0) unmapOnCollect.register(this, { addr, size });
  }

  /** Maps `path` whole. An empty file is mapped as a zero-length file without calling mmap. */
  static open(path: string): MappedFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw new InputError(`cannot open: ${(err as Error).message}`, { file: path });
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new InputError("not a regular file", { file: path });
      if (st.size === 0) return new MappedFile(path, 0, 0n);
      const { mmap } = loadLibc();
      const addr = BigInt(mmap(null, st.size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
      if (addr === MAP_FAILED || addr === 0n)
        throw new TunekitError(`${path}: mmap of ${st.size} bytes failed`);
      return new MappedFile(path, st.size, addr);
    } finally {
      closeSync(fd); // the mapping keeps its own reference to the file
    }
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.released;
  }

  /** A zero-copy view of bytes [offset, offset+length); throws outside the file or after close(). */
  view(offset: number, length: number): Uint8Array {
    if (this.released) throw new TunekitError(`${this.path}: the file was closed`);
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new TunekitError(
        `${this.path}: byte range ${offset}+${length} is outside the file (${this.size} bytes)`,
      );
    }
    if (length > MAX_VIEW_BYTES) {
      throw new TunekitError(
        `${this.path}: a view of ${length} bytes exceeds the ${MAX_VIEW_BYTES}-byte limit`,
      );
    }
    if (length === 0) return new Uint8Array(0);
    const buf = loadLibc().koffi.view(this.addr + BigInt(offset), length);
    // Keeps this MappedFile (hence the address range) alive as long as the view is reachable.
    Object.defineProperty(buf, OWNER, { value: this });
    return new Uint8Array(buf);
  }

  /**
   * Releases the file now. Views handed out stay safe to touch (they read zeros after this); the address
   * range itself is returned when the last view is garbage collected.
   */
  close(): void {
    if (this.released) return;
    this.released = true;
    if (this.size === 0) return;
    const flags = MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE;
    // If this fails the file stays mapped until garbage collection, which is still safe.
    loadLibc().mmap(this.addr, this.size, PROT_READ | PROT_WRITE, flags, -1, 0);
  }
}
