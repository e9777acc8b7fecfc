// Hugging Face checkpoint export, every architecture tunekit's HF importer reads: GGUF → HF folder (sharded)
// → convertHfToGguf gives byte-identical tensors and, in node-llama-cpp, identical next-token log-softmax.
// (Gemma 3n, which the importer does not read, is checked with llama.cpp's converter in hf-llama-convert.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertLlama2c } from "../../lib/models/convert-llama2c.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { convertHfToGguf } from "../../lib/models/convert-hf.js";
import { openGguf } from "../../lib/gguf/index.js";
import { exportHfCheckpoint } from "../../lib/export/hf-checkpoint.js";
import { sharedDir } from "../../lib/util/paths.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";
import { referenceLogits } from "../models/helpers.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const dir = mkdtempSync(join(tmpdir(), "tunekit-hf-roundtrip-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const TOKENS = [1, 403, 261, 378, 300, 5, 97, 140, 299, 260, 13, 400, 450, 2, 1, 77, 88, 311];

let stories: Promise<string> | undefined;
/** stories260K's tokenizer (512 SentencePiece pieces) for the random models: small embeddings. */
function storiesGguf(): Promise<string> {
  stories ??= (async () => {
    const src = join(shared!, "models", "stories260K");
    const out = join(dir, "stories260K.gguf");
    await convertLlama2c({
      checkpoint: join(src, "stories260K.bin"),
      tokenizer: join(src, "tok512.model"),
      out,
    });
    return out;
  })();
  return stories;
}

/** Compares every tensor's name, type and bytes; returns the number compared. */
function assertSameTensors(a: string, b: string, what: string): number {
  const x = openGguf(a);
  const y = openGguf(b);
  try {
    assert.deepEqual(
      y.tensors.map((t) => t.name).sort(),
      x.tensors.map((t) => t.name).sort(),
      `${what}: names`,
    );
    for (const t of x.tensors) {
      assert.equal(y.tensor(t.name)!.type, t.type, `${what}: ${t.name} type`);
      assert.ok(
        Buffer.from(y.tensorData(t.name)).equals(Buffer.from(x.tensorData(t.name))),
        `${what}: ${t.name} differs`,
      );
    }
    return x.tensors.length;
  } finally {
    x.close();
    y.close();
  }
}

for (const arch of ["llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3"] as const) {
  test(
    `${arch}: GGUF → HF folder (sharded) → tunekit's importer gives the same tensors and logits`,
    { skip },
    async () => {
      const orig = await newModelGguf({
        arch,
        seed: 11,
        out: join(dir, `${arch}.gguf`),
        tokenizerFrom: await storiesGguf(),
      });
      const hf = join(dir, `${arch}-hf`);
      const r = await exportHfCheckpoint({ model: orig.out, out: hf, dtype: "f32", maxShardBytes: 100_000 });
      assert.ok(r.shards.length > 1, `${arch}: expected several shards, got ${r.shards.length}`);
      const index = JSON.parse(readFileSync(join(hf, "model.safetensors.index.json"), "utf8"));
      assert.deepEqual([...new Set(Object.values(index.weight_map))].sort(), [...r.shards].sort());
      const config = JSON.parse(readFileSync(join(hf, "config.json"), "utf8"));
      assert.equal(config.torch_dtype, "float32");
      assert.equal(config.tie_word_embeddings, !openGguf(orig.out).tensor("output.weight"));
      const back = join(dir, `${arch}-back.gguf`);
      await convertHfToGguf({ dir: hf, out: back, type: "f32" });
      const n = assertSameTensors(orig.out, back, arch);
      assert.equal(n, r.tensors);
      const d = maxLogSoftmaxDelta(
        await referenceLogits(orig.out, 512, TOKENS),
        await referenceLogits(back, 512, TOKENS),
      );
      console.log(
        `# ${arch}: ${r.tensors} tensors in ${r.shards.length} shards, round trip max |Δ log-softmax| ${d.toExponential(2)}`,
      );
      assert.ok(d <= 1e-4, `${arch}: ${d}`);
    },
  );
}
