// stories260K (Karpathy's TinyStories Llama, ../shared) converted by tunekit, checked against llama.cpp
// (node-llama-cpp) and against the greedy text documented upstream.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedDir } from "../../lib/util/paths.js";
import { convertLlama2c } from "../../lib/models/convert-llama2c.js";
import { Model } from "../../lib/models/model.js";
import { generate } from "../../lib/models/generate.js";
import { loadModel } from "../../lib/infer/model.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import { generateFromTokens } from "../../lib/infer/generate.js";
import type { Token } from "node-llama-cpp";
import { maxLogSoftmaxDelta } from "./parity-util.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const EXPECTED =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
const dir = mkdtempSync(join(tmpdir(), "tunekit-stories-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function convert(type: "f32" | "f16" = "f32"): Promise<string> {
  const src = join(shared!, "models", "stories260K");
  const out = join(dir, `stories260K-${type}.gguf`);
  await convertLlama2c({
    checkpoint: join(src, "stories260K.bin"),
    tokenizer: join(src, "tok512.model"),
    out,
    type,
  });
  return out;
}

test(
  "stories260K: greedy decoding from BOS with tunekit's engine starts with the documented text",
  { skip },
  async () => {
    const model = Model.load(await convert());
    try {
      const r = generate(model, "", { maxTokens: 40 });
      assert.ok(r.text.startsWith(EXPECTED), `got: ${r.text}`);
    } finally {
      model.dispose();
    }
  },
);

test(
  "stories260K: llama.cpp loads tunekit's GGUF, decodes the same text and agrees on logits",
  { skip },
  async () => {
    const path = await convert();
    const ours = Model.load(path);
    const ref = await loadModel({ modelPath: path, contextSize: 128, threads: 1, precise: true });
    try {
      const greedy = await ref.exclusive(() =>
        generateFromTokens(ref, [ours.tokenizer.bos!] as Token[], { maxTokens: 40 }),
      );
      assert.ok(greedy.text.startsWith(EXPECTED), `llama.cpp: ${greedy.text}`);
      const tokens = [
        ours.tokenizer.bos!,
        ...ours.tokenizer.encode("Once upon a time, Tim and Sue went to the big park. 123 !?"),
      ];
      assert.deepEqual(
        Array.from(ref.tokenize("Once upon a time, Tim and Sue went to the big park. 123 !?", false)),
        tokens.slice(1),
      );
      const theirs = await ref.exclusive(() => nextTokenLogits(ref, tokens as Token[]));
      const delta = maxLogSoftmaxDelta(ours.logits(tokens), theirs);
      console.log(
        `stories260K f32: max |Δ log-softmax| over ${tokens.length} positions = ${delta.toExponential(2)}`,
      );
      assert.ok(delta <= 5e-3, `parity ${delta}`);
    } finally {
      ours.dispose();
      await ref.dispose();
    }
  },
);

test(
  "a truncated llama2.c checkpoint is refused with a clear error and nothing written",
  { skip },
  async () => {
    const { writeFileSync, readFileSync, existsSync } = await import("node:fs");
    const src = join(shared!, "models", "stories260K");
    const bad = join(dir, "truncated.bin");
    writeFileSync(bad, readFileSync(join(src, "stories260K.bin")).subarray(0, 5000));
    const out = join(dir, "never.gguf");
    await assert.rejects(
      convertLlama2c({ checkpoint: bad, tokenizer: join(src, "tok512.model"), out }),
      /truncated.bin.*truncated while reading/,
    );
    assert.equal(existsSync(out), false);
  },
);
