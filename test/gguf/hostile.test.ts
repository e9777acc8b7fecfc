// Hostile and corrupt GGUF files: each is built byte by byte here (independently of tunekit's writer) and
// must be rejected with an InputError naming the file and the problem — never a crash, hang or huge
// allocation. Then every truncation of a valid file, and random byte corruption.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openGguf } from "../../lib/gguf/read.js";
import { parseGgufHeader } from "../../lib/gguf/parse.js";
import { gguf } from "../../lib/gguf/values.js";
import { writeGguf } from "../../lib/gguf/write.js";
import { InputError } from "../../lib/util/errors.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-gguf-hostile-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Little-endian byte builder for hand-made files. */
class Raw {
  private parts: Buffer[] = [];
  private put(n: number, f: (b: Buffer) => void) {
    const b = Buffer.alloc(n);
    f(b);
    this.parts.push(b);
    return this;
  }
  u8 = (v: number) => this.put(1, (b) => b.writeUInt8(v));
  u32 = (v: number) => this.put(4, (b) => b.writeUInt32LE(v));
  i32 = (v: number) => this.put(4, (b) => b.writeInt32LE(v));
  u64 = (v: bigint | number) => this.put(8, (b) => b.writeBigUInt64LE(BigInt(v)));
  i64 = (v: bigint | number) => this.put(8, (b) => b.writeBigInt64LE(BigInt(v)));
  f32 = (v: number) => this.put(4, (b) => b.writeFloatLE(v));
  str = (s: string) => this.u64(Buffer.byteLength(s)).raw(Buffer.from(s));
  raw = (b: Uint8Array) => (this.parts.push(Buffer.from(b)), this);
  get length() {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  pad(a = 32) {
    return this.raw(Buffer.alloc((a - (this.length % a)) % a));
  }
  done = () => Buffer.concat(this.parts);
}

interface TensorSpec {
  name?: string;
  dims?: Array<bigint | number>;
  type?: number;
  offset?: bigint | number;
}
interface FileSpec {
  magic?: string;
  version?: number;
  nTensors?: bigint | number;
  nKv?: bigint | number;
  /** Writes the key-value pairs (default: one string pair). */
  kvs?: (r: Raw) => void;
  tensors?: TensorSpec[];
  /** Tensor data bytes after the padded header (default: what the tensors need). */
  dataBytes?: number;
}

/** A file like llama.cpp writes, with every piece overridable. */
function build(spec: FileSpec = {}): Buffer {
  const tensors = spec.tensors ?? [{}];
  const r = new Raw().raw(Buffer.from(spec.magic ?? "GGUF")).u32(spec.version ?? 3);
  r.i64(spec.nTensors ?? tensors.length);
  const kv = new Raw();
  (spec.kvs ?? ((k: Raw) => k.str("general.architecture").i32(8).str("llama")))(kv);
  r.i64(spec.nKv ?? (spec.kvs ? 1 : 1));
  r.raw(kv.done());
  let off = 0;
  for (const [i, t] of tensors.entries()) {
    const dims = t.dims ?? [8, 2];
    r.str(t.name ?? `t${i}`).u32(dims.length);
    dims.forEach((d) => r.i64(d));
    r.i32(t.type ?? 0).u64(t.offset ?? off);
    off += 64; // 8×2 f32
  }
  r.pad();
  return Buffer.concat([r.done(), Buffer.alloc(spec.dataBytes ?? off)]);
}

let n = 0;
function expectRejected(bytes: Buffer, message: RegExp, what = message.source) {
  const path = join(dir, `case-${n++}.gguf`);
  writeFileSync(path, bytes);
  assert.throws(
    () => openGguf(path).close(),
    (e: Error) => {
      assert.ok(e instanceof InputError, `${what}: ${e.name}: ${e.message}`);
      assert.ok(e.message.startsWith(path + ": "), `${what}: message names the file: ${e.message}`);
      assert.match(e.message, message, what);
      return true;
    },
  );
}

test("the baseline hand-made file is valid (so each case below fails for its one defect)", () => {
  const path = join(dir, "baseline.gguf");
  writeFileSync(path, build({ tensors: [{}, { offset: 64 }] }));
  const f = openGguf(path);
  assert.deepEqual(
    f.tensors.map((t) => [t.name, t.shape, t.nbytes]),
    [
      ["t0", [8, 2], 64],
      ["t1", [8, 2], 64],
    ],
  );
  assert.equal(f.get("general.architecture"), "llama");
  f.close();
});

test("hostile headers are rejected with a clear message", () => {
  const rssBefore = process.memoryUsage().rss;
  const big = 2n ** 62n;
  expectRejected(Buffer.alloc(0), /not a GGUF file: only 0 bytes/);
  expectRejected(Buffer.from("GG"), /not a GGUF file: only 2 bytes/);
  expectRejected(build({ magic: "GGML" }), /not a GGUF file: magic is "GGML"/);
  expectRejected(Buffer.from("GGUF"), /version needs 4 bytes but only 0 remain: the file is truncated/);
  expectRejected(build({ version: 1 }), /GGUF version 1 is not supported/);
  expectRejected(build({ version: 0 }), /unknown GGUF version 0/);
  expectRejected(build({ version: 99 }), /unknown GGUF version 99 \(supported: 2, 3\)/);
  expectRejected(build({ version: 0x03000000 }), /big-endian GGUF files are not supported/);
  expectRejected(
    build({ nTensors: big }),
    /tensor count is 4611686018427387904, more than the \d+ remaining bytes can hold/,
  );
  expectRejected(build({ nTensors: -1n }), /tensor count is 18446744073709551615/);
  expectRejected(build({ nKv: 2n ** 40n }), /metadata key-value count is 1099511627776/);
  expectRejected(
    build({ nKv: 2 }),
    /length of metadata key 1 needs 8 bytes|claims/,
    "more key-value pairs than written",
  );
  expectRejected(
    build({ kvs: (k) => k.u64(2n ** 63n) }),
    /metadata key 0 claims 9223372036854775808 bytes but only \d+ remain/,
  );
  expectRejected(build({ kvs: (k) => k.str("k").i32(8).u64(1e9) }), /metadata "k" claims 1000000000 bytes/);
  expectRejected(build({ kvs: (k) => k.str("").i32(4).u32(1) }), /metadata key 0 is empty/);
  expectRejected(build({ kvs: (k) => k.str("k").i32(13).u32(1) }), /metadata "k" has unknown value type 13/);
  expectRejected(build({ kvs: (k) => k.str("k").i32(-1).u32(1) }), /metadata "k" has unknown value type -1/);
  expectRejected(
    build({ kvs: (k) => k.str("k").i32(9).i32(42).u64(1) }),
    /"k" is an array of unknown value type 42/,
  );
  expectRejected(
    build({
      kvs: (k) =>
        k
          .str("k")
          .i32(9)
          .i32(6)
          .u64(2n ** 64n - 1n),
    }),
    /length of array "k" \(f32\) is 18446744073709551615, more than/,
  );
  expectRejected(
    build({ kvs: (k) => k.str("k").i32(9).i32(8).u64(1e9) }),
    /length of array "k" \(str\) is 1000000000/,
  );
  expectRejected(
    build({ kvs: (k) => k.str("k").i32(9).i32(8).u64(2).str("a").u64(1e6) }),
    /item 1 of "k" claims 1000000 bytes/,
  );
  expectRejected(
    build({ kvs: (k) => k.str("k").i32(9).i32(9).u64(1e9) }),
    /length of array "k" \(arr\) is 1000000000/,
  );
  const deep = (k: Raw) => {
    k.str("k").i32(9);
    for (let i = 0; i < 20; i++) k.i32(9).u64(1);
    k.i32(0).u64(0);
  };
  expectRejected(build({ kvs: deep }), /metadata "k\[0\]\[0\].*" nests arrays deeper than 8/);
  expectRejected(
    build({ kvs: (k) => k.str("k").i32(7).u8(2) }),
    /metadata "k" has a bool byte 2 \(expected 0 or 1\)/,
  );
  expectRejected(
    build({ kvs: (k) => k.str("k").i32(9).i32(7).u64(2).u8(1).u8(5) }),
    /"k\[1\]" has a bool byte 5/,
  );
  expectRejected(
    build({ nKv: 2, kvs: (k) => k.str("k").i32(4).u32(1).str("k").i32(4).u32(2) }),
    /duplicate metadata key "k"/,
  );
  expectRejected(
    build({ kvs: (k) => k.str("general.alignment").i32(10).u64(32) }),
    /"general.alignment" must be u32, not u64/,
  );
  expectRejected(
    build({ kvs: (k) => k.str("general.alignment").i32(4).u32(0) }),
    /"general.alignment" is 0, not a power of two/,
  );
  expectRejected(
    build({ kvs: (k) => k.str("general.alignment").i32(4).u32(48) }),
    /is 48, not a power of two/,
  );
  const growth = process.memoryUsage().rss - rssBefore;
  assert.ok(growth < 200 * 2 ** 20, `no giant allocation (rss grew ${growth} bytes)`);
});

test("hostile tensor infos are rejected with a clear message", () => {
  expectRejected(
    build({ tensors: [{ name: "x".repeat(64) }] }),
    /tensor 0 name "x+" is longer than 63 bytes/,
  );
  expectRejected(build({ tensors: [{ name: "w" }, { name: "w", offset: 64 }] }), /duplicate tensor name "w"/);
  expectRejected(
    build({ tensors: [{ dims: [1, 1, 1, 1, 1] }] }),
    /tensor "t0" has 5 dimensions \(at most 4\)/,
  );
  expectRejected(build({ tensors: [{ dims: [0xffffffff] }], dataBytes: 0 }).subarray(0, 60), /truncated/);
  expectRejected(build({ tensors: [{ dims: [8, -1] }] }), /tensor "t0" dimension 1 is -1/);
  expectRejected(
    build({ tensors: [{ dims: [2n ** 40n, 2n ** 40n] }] }),
    /shape \[1099511627776,1099511627776\] has more than 2\^63 elements/,
  );
  expectRejected(
    build({ tensors: [{ dims: [2n ** 31n, 2n ** 31n] }] }),
    /data \(18446744073709551616 bytes .*\) .* past the end of the file/,
  );
  expectRejected(build({ tensors: [{ type: 4 }] }), /tensor "t0" has unknown or removed ggml type 4/);
  expectRejected(build({ tensors: [{ type: 99 }] }), /unknown or removed ggml type 99/);
  expectRejected(build({ tensors: [{ type: -7 }] }), /unknown or removed ggml type -7/);
  expectRejected(
    build({ tensors: [{ type: 12, dims: [100, 1] }] }),
    /tensor "t0" \(Q4_K\) has rows of 100 elements, not a multiple of 256/,
  );
  expectRejected(
    build({ dataBytes: 63 }),
    /tensor "t0" data \(64 bytes at data offset 0\) ends at byte \d+, past the end of the file/,
  );
  expectRejected(build({ tensors: [{ offset: 2n ** 63n }] }), /past the end of the file/);
  expectRejected(
    build({ tensors: [{ offset: 4 }], dataBytes: 128 }),
    /tensor "t0" data offset 4 is not a multiple of the alignment 32/,
  );
  expectRejected(build({ tensors: [{}, { offset: 32 }] }), /tensors "t0" and "t1" have overlapping data/);
  expectRejected(build({ nTensors: 2 }).subarray(0, 120), /name of tensor 1|truncated/);
  const header = build({ dataBytes: 0 });
  expectRejected(
    header.subarray(0, header.length - 10),
    /data section would start at byte \d+, past the end|past the end/,
  );
});

/** A small valid file with every kind of header piece, written by tunekit. */
async function sample(): Promise<Buffer> {
  const path = join(dir, "sample.gguf");
  await writeGguf(path, {
    metadata: {
      "general.architecture": gguf.str("llama"),
      "x.u32": gguf.u32(7),
      "x.i64": gguf.i64(-3n),
      "x.f32": gguf.arr("f32", [1, 2, 3]),
      "x.str": gguf.arr("str", ["a", "bc", ""]),
      "x.bool": gguf.arr("bool", [true, false]),
      "x.nested": gguf.nested([gguf.arr("u16", [1, 2]), gguf.arr("str", ["q"])]),
    },
    tensors: [
      { name: "a", type: 0, shape: [4, 2], data: new Uint8Array(32) },
      { name: "b", type: 8, shape: [32], data: new Uint8Array(34) },
      { name: "c", type: 1, shape: [3], data: new Uint8Array(6) },
    ],
  });
  return readFileSync(path);
}

test("every truncation of a valid file is rejected (each byte position up to the last tensor's end)", async () => {
  const full = await sample();
  const path = join(dir, "sample.gguf");
  const f = openGguf(path);
  const lastEnd = Math.max(...f.tensors.map((t) => t.offset + t.nbytes));
  f.close();
  for (let len = 0; len < lastEnd; len++) {
    const part = full.subarray(0, len);
    assert.throws(() => parseGgufHeader(part, len, "cut.gguf"), InputError, `truncated to ${len} bytes`);
  }
  parseGgufHeader(full.subarray(0, lastEnd), lastEnd, "exact.gguf"); // trailing padding is optional
  for (let len = 0; len < lastEnd; len += 17)
    expectRejected(full.subarray(0, len), /./, `file truncated to ${len}`);
});

test("random corruption never escapes as anything but an InputError", async () => {
  const full = await sample();
  const headerEnd = parseGgufHeader(full, full.length, "s").dataOffset;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0), seed / 2 ** 32);
  const specials = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x09, 0x08, 0x40];
  let rejected = 0;
  for (let i = 0; i < 4000; i++) {
    const b = Buffer.from(full);
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * headerEnd);
      b[at] = rand() < 0.5 ? specials[Math.floor(rand() * specials.length)] : Math.floor(rand() * 256);
    }
    try {
      parseGgufHeader(b, b.length, "fuzz.gguf");
    } catch (err) {
      assert.ok(err instanceof InputError, `case ${i}: ${(err as Error).stack}`);
      rejected++;
    }
  }
  assert.ok(rejected > 1000, `most corruptions are caught (${rejected}/4000)`);
});

test("a sparse 5 GiB file: data past 4 GiB is readable; a tensor larger than one view is refused, not a crash", () => {
  // koffi aborts the process for views over 4 GiB; the reader must refuse those itself.
  const huge = 2 ** 30 + 16; // f32 elements: 4 GiB + 64 bytes
  const bytes = build({
    tensors: [
      { name: "huge", dims: [huge] },
      { name: "tail", dims: [8], offset: 4 * huge },
    ],
    dataBytes: 0,
  });
  const path = join(dir, "sparse.gguf");
  writeFileSync(path, bytes);
  truncateSync(path, bytes.length + 4 * huge + 32);
  const f = openGguf(path);
  try {
    const tail = f.tensor("tail")!;
    assert.ok(tail.offset > 2 ** 32);
    assert.deepEqual(f.tensorData("tail"), new Uint8Array(32));
    assert.throws(() => f.tensorData("huge"), /a view of 4294967360 bytes exceeds the 4294967296-byte limit/);
    // a tensor that large is walked in ranges instead
    assert.deepEqual(f.tensorDataRange("huge", 4 * huge - 64, 64), new Uint8Array(64));
    assert.throws(
      () => f.tensorDataRange("huge", 4 * huge - 64, 65),
      /range 4294967296\+65 is outside tensor "huge"/,
    );
  } finally {
    f.close();
  }
});
