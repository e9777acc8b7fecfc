// tunekit's reader against node-llama-cpp's readGgufFileInfo and @huggingface/gguf on a GGUF written by
// llama.cpp's own tools.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { openGguf } from "../../lib/gguf/read.js";
import { tensorBytes } from "../../lib/gguf/ggml-types.js";
import { comparable, hfTypes, plainOf, referenceInfo, shared, tinyLlama, typePair } from "./helpers.js";

const skip = !shared && "../shared is absent";

test("tiny-random-llama reads identically to node-llama-cpp's readGgufFileInfo", { skip }, async () => {
  const ref = await referenceInfo(tinyLlama!);
  const f = openGguf(tinyLlama!);
  try {
    assert.equal(f.version, ref.version);
    assert.equal(f.dataOffset, ref.dataOffset);
    assert.deepEqual([...f.metadata.keys()].sort(), [...ref.metadata.keys()].sort());
    for (const [key, expected] of ref.metadata) {
      assert.deepEqual(comparable(f.get(key)!), expected, `metadata "${key}"`);
    }
    assert.equal(f.tensors.length, ref.tensors.length);
    f.tensors.forEach((t, i) => {
      const r = ref.tensors[i];
      assert.deepEqual({ name: t.name, type: t.type, shape: t.shape, offset: t.offset }, r, `tensor ${i}`);
      assert.equal(t.nbytes, tensorBytes(t.type, t.shape));
    });
  } finally {
    f.close();
  }
});

test("tiny-random-llama value types match @huggingface/gguf", { skip }, async () => {
  const hf = await hfTypes(tinyLlama!);
  const f = openGguf(tinyLlama!);
  try {
    assert.equal(f.dataOffset, hf.tensorDataOffset);
    assert.deepEqual(new Map([...f.metadata].map(([k, v]) => [k, typePair(v)])), hf.types);
  } finally {
    f.close();
  }
});

test("tensorData is a zero-copy view of the file bytes; getters; close", { skip }, () => {
  const bytes = readFileSync(tinyLlama!);
  const f = openGguf(tinyLlama!);
  const t = f.tensor("output_norm.weight")!;
  const view = f.tensorData(t.name);
  assert.equal(view.byteLength, 32);
  assert.deepEqual(Buffer.from(view), bytes.subarray(t.offset, t.offset + 32));
  const norm = new Float32Array(view.slice().buffer);
  assert.ok(norm.every(Number.isFinite));
  // writes stay private to the process (MAP_PRIVATE): the file is read-only and unchanged
  view[0] ^= 0xff;
  assert.deepEqual(
    readFileSync(tinyLlama!).subarray(t.offset, t.offset + 4),
    bytes.subarray(t.offset, t.offset + 4),
  );

  assert.equal(f.getString("general.architecture"), "llama");
  assert.equal(f.getNumber("llama.embedding_length"), 8);
  assert.equal(f.getNumber("llama.missing", 7), 7);
  assert.throws(() => f.getNumber("general.architecture"), /should be a number, but it is str/);
  assert.throws(
    () => f.getString("nope"),
    /llama-2-tiny-random.gguf: metadata "nope" should be a string, but it is missing/,
  );
  assert.ok(f.get("tokenizer.ggml.scores") instanceof Float32Array);
  assert.deepEqual((plainOf(f.metadata.get("tokenizer.ggml.tokens")!) as string[]).slice(0, 3), [
    "<unk>",
    "<s>",
    "</s>",
  ]);
  assert.throws(() => f.tensorData("nope"), /no tensor named "nope"/);

  f.close();
  f.close(); // idempotent
  assert.throws(() => f.tensorData(t.name), /closed/);
  // a view taken before close() stays safe to touch (it reads zeros instead of crashing)
  assert.equal(view[1], 0);
});
