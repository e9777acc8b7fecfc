// newModelGguf: determinism, metadata llama.cpp reads, f16 matrices, and the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { newModelGguf } from "../../lib/models/new-model.js";
import { toF16 as f32ToF16, f16ToF32, toBf16 } from "../../lib/models/cast.js";
import { openGguf } from "../../lib/gguf/index.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { Model } from "../../lib/models/model.js";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { PACKAGE_ROOT, sharedDir } from "../../lib/util/paths.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const dir = mkdtempSync(join(tmpdir(), "tunekit-new-model-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("f32ToF16 rounds like IEEE half (hand-computed values)", () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(65504), 0x7bff);
  assert.equal(f32ToF16(65520), 0x7c00); // rounds up to infinity
  assert.equal(f32ToF16(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie → even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
  assert.equal(f32ToF16(0.1), 0x2e66);
});

test("same seed gives the same bytes, another seed other weights", { skip }, async () => {
  const a = await newModelGguf({ arch: "qwen3", seed: 11, out: join(dir, "a.gguf"), vocab: 300 });
  const b = await newModelGguf({ arch: "qwen3", seed: 11, out: join(dir, "b.gguf"), vocab: 300 });
  const c = await newModelGguf({ arch: "qwen3", seed: 12, out: join(dir, "c.gguf"), vocab: 300 });
  assert.deepEqual(readFileSync(a.out), readFileSync(b.out));
  assert.notDeepEqual(readFileSync(a.out), readFileSync(c.out));
  assert.equal(a.bytes, readFileSync(a.out).length);
});

test(
  "dimensions and llama.cpp's metadata keys are written; node-llama-cpp reads them back",
  { skip },
  async () => {
    const r = await newModelGguf({
      arch: "gemma2",
      seed: 1,
      out: join(dir, "g2.gguf"),
      dim: 48,
      layers: 3,
      heads: 6,
      kvHeads: 3,
      headDim: 16,
      ffn: 96,
      vocab: 1000,
      slidingWindow: 5,
      type: "f16",
    });
    const f = openGguf(r.out);
    try {
      assert.equal(f.getNumber("gemma2.embedding_length"), 48);
      assert.equal(f.getNumber("gemma2.block_count"), 3);
      assert.equal(f.getNumber("gemma2.attention.head_count_kv"), 3);
      assert.equal(f.getNumber("gemma2.attention.sliding_window"), 5);
      assert.equal(f.getNumber("gemma2.attn_logit_softcapping"), 50);
      assert.equal(f.tensor("blk.0.attn_q.weight")?.type, GgmlType.F16);
      assert.deepEqual([...f.tensor("blk.0.attn_q.weight")!.shape], [48, 96]);
      assert.equal(f.tensor("blk.0.attn_norm.weight")?.type, GgmlType.F32);
      assert.equal(f.tensor("output.weight"), undefined, "gemma2 ties the output to token_embd");
    } finally {
      f.close();
    }
    const llama = await getLlamaCpp();
    const m = await llama.loadModel({ modelPath: r.out });
    try {
      const meta = m.fileInfo.metadata as unknown as {
        gemma2: { embedding_length: number; block_count: number };
      };
      assert.equal(meta.gemma2.embedding_length, 48);
      assert.equal(m.tokens.bos, 1);
      assert.equal(m.tokenize("hello").length > 0, true);
    } finally {
      await m.dispose();
    }
    const ours = Model.load(r.out);
    assert.equal(ours.config.slidingWindow, 5);
    assert.deepEqual(ours.config.swaLayers, [true, false, true]);
    ours.dispose();
  },
);

test("CLI: tunekit new-model --json", { skip }, () => {
  const out = join(dir, "cli.gguf");
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(PACKAGE_ROOT, "lib/cli/main.ts"),
      "new-model",
      "--arch",
      "gemma3",
      "--layers",
      "7",
      "--vocab",
      "600",
      "--seed",
      "5",
      "--out",
      out,
      "--json",
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    arch: string;
    layers: number;
    vocab: number;
    slidingWindow: number;
    bytes: number;
  };
  assert.equal(doc.arch, "gemma3");
  assert.equal(doc.layers, 7);
  assert.equal(doc.vocab, 600);
  assert.equal(doc.slidingWindow, 8);
  assert.equal(doc.bytes, readFileSync(out).length);
  const bad = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(PACKAGE_ROOT, "lib/cli/main.ts"),
      "new-model",
      "--arch",
      "rwkv",
      "--seed",
      "5",
      "--out",
      out,
      "--json",
    ],
    { encoding: "utf8" },
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /architecture "rwkv" is not supported/);
});

test("f16/bf16 decoding inverts the encoders (hand-checked values)", () => {
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0xc000), -2);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.equal(toBf16(1), 0x3f80);
  assert.equal(toBf16(-2.5), 0xc020);
});
