// Files written from scratch: the exact bytes of a minimal file (hand-computed), every metadata value type
// read back identically by tunekit, node-llama-cpp and @huggingface/gguf, validation, and atomicity.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgmlType, tensorBytes } from "../../lib/gguf/ggml-types.js";
import { openGguf } from "../../lib/gguf/read.js";
import { gguf } from "../../lib/gguf/values.js";
import type { GgufMetadataValue } from "../../lib/gguf/values.js";
import { writeGguf } from "../../lib/gguf/write.js";
import type { GgufTensorToWrite } from "../../lib/gguf/write.js";
import { TunekitError } from "../../lib/util/errors.js";
import { hfTypes, plainOf, referenceInfo, typePair } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-gguf-write-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("a minimal file has exactly llama.cpp's layout (hand-computed bytes)", async () => {
  const path = join(dir, "min.gguf");
  await writeGguf(path, {
    metadata: { a: gguf.u8(7) },
    tensors: [
      { name: "t", type: GgmlType.F32, shape: [1], data: new Uint8Array(new Float32Array([1]).buffer) },
    ],
  });
  const e = Buffer.alloc(128); // header 24 + kv 14 + tensor info 33 = 71, padded to 96; data 4, padded to 128
  e.write("GGUF", 0);
  e.writeUInt32LE(3, 4);
  e.writeBigInt64LE(1n, 8); // tensors
  e.writeBigInt64LE(1n, 16); // kv pairs
  e.writeBigUInt64LE(1n, 24);
  e.write("a", 32);
  e.writeInt32LE(0, 33); // u8
  e.writeUInt8(7, 37);
  e.writeBigUInt64LE(1n, 38);
  e.write("t", 46);
  e.writeUInt32LE(1, 47); // n_dims
  e.writeBigInt64LE(1n, 51);
  e.writeInt32LE(0, 59); // F32
  e.writeBigUInt64LE(0n, 63); // offset in the data section
  e.writeFloatLE(1, 96);
  assert.deepEqual(readFileSync(path), e);
});

/** One value of every type, edge values included. */
function everyType(): Map<string, GgufMetadataValue> {
  return new Map<string, GgufMetadataValue>([
    ["t.u8", gguf.u8(255)],
    ["t.i8", gguf.i8(-128)],
    ["t.u16", gguf.u16(65535)],
    ["t.i16", gguf.i16(-32768)],
    ["t.u32", gguf.u32(4294967295)],
    ["t.i32", gguf.i32(-2147483648)],
    ["t.f32", gguf.f32(-1.5)],
    ["t.f64", gguf.f64(Math.PI)],
    ["t.u64", gguf.u64(2n ** 64n - 1n)],
    ["t.i64", gguf.i64(-(2n ** 63n))],
    ["t.bool.true", gguf.bool(true)],
    ["t.bool.false", gguf.bool(false)],
    ["t.str", gguf.str('héllo ✓ 🦙 \ufeff\n"q"')],
    ["t.empty_str", gguf.str("")],
    ["a.u8", gguf.arr("u8", [0, 1, 255])],
    ["a.i8", gguf.arr("i8", [-128, 127])],
    ["a.u16", gguf.arr("u16", [65535, 3])],
    ["a.i16", gguf.arr("i16", [-32768, 5])],
    ["a.u32", gguf.arr("u32", [4294967295, 0])],
    ["a.i32", gguf.arr("i32", [-2147483648, 2147483647])],
    ["a.f32", gguf.arr("f32", [0.5, -2, 1e-8])],
    ["a.f64", gguf.arr("f64", [Math.E, -0])],
    ["a.u64", gguf.arr("u64", [2n ** 64n - 1n, 1])],
    ["a.i64", gguf.arr("i64", [-(2n ** 63n), 2n ** 63n - 1n])],
    ["a.bool", gguf.arr("bool", [true, false, true])],
    ["a.str", gguf.arr("str", ["<s>", "", "▁hello", "\ufeff"])],
    ["a.empty", gguf.arr("f32", [])],
    ["a.nested", gguf.nested([gguf.arr("u8", [1, 2]), gguf.arr("str", ["x"]), gguf.arr("i64", [])])],
  ]);
}

function everyTensorType(): GgufTensorToWrite[] {
  const shapes: Array<[string, number, number[]]> = [
    ["f32", GgmlType.F32, [4, 3]],
    ["f16", GgmlType.F16, [8]],
    ["bf16", GgmlType.BF16, [2, 2, 2, 2]],
    ["q8_0", GgmlType.Q8_0, [64, 2]],
    ["q4_k", GgmlType.Q4_K, [256, 1, 3]],
    ["i32.empty", GgmlType.I32, [0, 5]],
  ];
  return shapes.map(([name, type, shape], i) => {
    const data = new Uint8Array(tensorBytes(type, shape)).map((_, j) => (j * 7 + i) & 0xff);
    return { name, type, shape, data };
  });
}

test("every metadata type and several tensor types read back identically (tunekit, node-llama-cpp, @huggingface/gguf)", async () => {
  const path = join(dir, "every.gguf");
  const metadata = everyType();
  const tensors = everyTensorType();
  await writeGguf(path, { metadata, tensors, alignment: 64 });

  const f = openGguf(path);
  try {
    assert.equal(f.alignment, 64);
    assert.equal(f.dataOffset % 64, 0);
    metadata.set("general.alignment", gguf.u32(64)); // added by the writer for a non-default alignment
    assert.deepEqual(f.metadata, metadata);
    assert.deepEqual(
      f.tensors.map((t) => [t.name, t.type, t.shape]),
      tensors.map((t) => [t.name, t.type, t.shape]),
    );
    for (const t of tensors) assert.deepEqual(f.tensorData(t.name), t.data, t.name);
    for (const t of f.tensors) assert.equal((t.offset - f.dataOffset) % 64, 0);

    const ref = await referenceInfo(path);
    assert.equal(ref.dataOffset, f.dataOffset);
    assert.deepEqual([...ref.metadata.keys()].sort(), [...metadata.keys()].sort());
    for (const [key, v] of metadata)
      assert.deepEqual(ref.metadata.get(key), plainOf(v), `node-llama-cpp: "${key}"`);
    assert.deepEqual(
      ref.tensors,
      f.tensors.map((t) => ({ name: t.name, type: t.type, shape: t.shape, offset: t.offset })),
    );

    const hf = await hfTypes(path);
    assert.deepEqual(hf.types, new Map([...metadata].map(([k, v]) => [k, typePair(v)])));
    assert.equal(hf.tensorDataOffset, f.dataOffset);
  } finally {
    f.close();
  }
});

const f32 = (n: number) => new Uint8Array(4 * n);
const rejects = async (what: string, opts: Parameters<typeof writeGguf>[1], message: RegExp) => {
  const path = join(dir, `bad-${what}.gguf`);
  await assert.rejects(
    writeGguf(path, opts),
    (e: Error) => e instanceof TunekitError && message.test(e.message),
    what,
  );
  assert.equal(existsSync(path), false, `${what}: nothing is left at the target`);
};

test("invalid tensors and metadata are refused before anything is written", async () => {
  const t = (name: string, type: number, shape: number[], bytes = tensorBytes(GgmlType.F32, [1])) => ({
    name,
    type,
    shape,
    data: new Uint8Array(bytes),
  });
  await rejects("long-name", { metadata: {}, tensors: [t("x".repeat(64), 0, [1])] }, /longer than 63 bytes/);
  await rejects(
    "dup-name",
    { metadata: {}, tensors: [t("a", 0, [1]), t("a", 0, [1])] },
    /duplicate tensor name "a"/,
  );
  await rejects("empty-name", { metadata: {}, tensors: [t("", 0, [1])] }, /name must be non-empty/);
  await rejects("bad-type", { metadata: {}, tensors: [t("a", 4, [1])] }, /unknown or removed ggml type 4/);
  await rejects("five-dims", { metadata: {}, tensors: [t("a", 0, [1, 1, 1, 1, 1])] }, /0 to 4 dimensions/);
  await rejects("block", { metadata: {}, tensors: [t("a", GgmlType.Q4_K, [128])] }, /multiple of 256/);
  await rejects("size", { metadata: {}, tensors: [t("a", 0, [2], 4)] }, /data has 4 bytes, .* need 8/);
  const u8 = { type: 0, value: 300 } as GgufMetadataValue;
  await rejects(
    "u8-range",
    { metadata: { k: u8 }, tensors: [] },
    /"k": expected a u8 integer in \[0, 255\], got 300/,
  );
  const str = { type: 8, value: 5 } as unknown as GgufMetadataValue;
  await rejects("str-kind", { metadata: { k: str }, tensors: [] }, /"k": expected a string/);
  const arr = { type: 9, value: { elementType: 6, items: [1, 2] } } as unknown as GgufMetadataValue;
  await rejects("arr-kind", { metadata: { k: arr }, tensors: [] }, /f32 array items must be a Float32Array/);
  await rejects(
    "vtype",
    { metadata: { k: { type: 13, value: 1 } as unknown as GgufMetadataValue }, tensors: [] },
    /unknown value type 13/,
  );
  const pairs: Array<[string, GgufMetadataValue]> = [
    ["k", gguf.u8(1)],
    ["k", gguf.u8(2)],
  ];
  await rejects("dup-key", { metadata: pairs, tensors: [] }, /duplicate metadata key "k"/);
  await rejects(
    "align-type",
    { metadata: { "general.alignment": gguf.u64(64) }, tensors: [] },
    /must be u32/,
  );
  await rejects("align-pow2", { metadata: {}, tensors: [], alignment: 48 }, /power of two/);
  await rejects(
    "align-conflict",
    { metadata: { "general.alignment": gguf.u32(64) }, tensors: [], alignment: 32 },
    /differs/,
  );
  assert.throws(() => gguf.arr("u16", [70000]), /expected a u16 integer/);
  assert.throws(() => gguf.i32(1.5), /expected a i32 integer/);
  assert.throws(() => gguf.u64(-1), /expected a u64 bigint/);
  assert.throws(() => gguf.nested([gguf.u8(1)]), /gguf.nested takes values made by gguf.arr/);
});

test("atomic: a lazy data callback that throws midway leaves no file (and keeps an existing one intact)", async () => {
  const sub = mkdtempSync(join(dir, "atomic-"));
  const path = join(sub, "model.gguf");
  let calls = 0;
  const tensors: GgufTensorToWrite[] = ["a", "b", "c"].map((name) => ({
    name,
    type: GgmlType.F32,
    shape: [4],
    data: () => {
      if (++calls === 2) throw new Error("quantizer crashed");
      return f32(4);
    },
  }));
  await assert.rejects(writeGguf(path, { metadata: {}, tensors }), /quantizer crashed/);
  assert.equal(calls, 2);
  assert.deepEqual(readdirSync(sub), [], "no file and no temporary file");

  writeFileSync(path, "previous contents");
  calls = 0;
  await assert.rejects(writeGguf(path, { metadata: {}, tensors }), /quantizer crashed/);
  await assert.rejects(
    writeGguf(path, {
      metadata: {},
      tensors: [{ name: "a", type: 0, shape: [4], data: async () => f32(3) }],
    }),
    /data has 12 bytes/,
  );
  assert.equal(readFileSync(path, "utf8"), "previous contents");
  assert.deepEqual(readdirSync(sub), ["model.gguf"]);
});
