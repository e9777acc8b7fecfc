// read → write → read of a GGUF written by llama.cpp's tools is byte-identical, and the rewritten file
// loads in node-llama-cpp (llama.cpp's own loader).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openGguf } from "../../lib/gguf/read.js";
import { writeGguf } from "../../lib/gguf/write.js";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { referenceInfo, shared, tinyLlama } from "./helpers.js";

const skip = !shared && "../shared is absent";

test(
  "tiny-random-llama: read → write → read is byte-identical and loads in llama.cpp",
  { skip, timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "tunekit-gguf-"));
    try {
      const out = join(dir, "copy.gguf");
      const src = openGguf(tinyLlama!);
      let produced = 0;
      const res = await writeGguf(out, {
        metadata: src.metadata,
        version: src.version as 3,
        tensors: src.tensors.map((t) => ({
          ...t,
          data: () => (produced++, src.tensorData(t.name)), // lazy: one tensor at a time
        })),
      });
      src.close();
      assert.equal(produced, 12);
      const a = readFileSync(tinyLlama!);
      const b = readFileSync(out);
      assert.equal(res.bytes, b.length);
      assert.equal(b.length, a.length);
      assert.ok(a.equals(b), "rewritten file differs from the original");

      const ref = await referenceInfo(out);
      assert.equal(ref.tensors.length, 12);
      assert.equal(ref.metadata.get("general.architecture"), "llama");

      const llama = await getLlamaCpp();
      const model = await llama.loadModel({ modelPath: out });
      try {
        assert.deepEqual(Array.from(model.tokenize("Hello")), Array.from(model.tokenize("Hello")));
        assert.equal(model.detokenize(model.tokenize("Hello world")), "Hello world");
        assert.equal(model.fileInfo.tensorInfo?.length, 12);
      } finally {
        await model.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
