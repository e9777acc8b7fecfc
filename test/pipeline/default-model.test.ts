// The embedded default model (data/default-model/default-model.gguf): llama.cpp loads it, its tokenizer
// and greedy generation agree with llama.cpp's, and it is the model `npm start` trains.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Token } from "node-llama-cpp";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { loadModel, type LoadedModel } from "../../lib/infer/model.js";
import { generateFromTokens } from "../../lib/infer/generate.js";
import { Model } from "../../lib/models/model.js";
import { generate } from "../../lib/models/generate.js";
import { renderChat } from "../../lib/chat/template.js";
import {
  CHATML_TEMPLATE,
  DEFAULT_MODEL,
  DEFAULT_MODEL_DIR,
  defaultModelPath,
} from "../../lib/pipeline/default-model.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

let ref: LoadedModel;
let ours: Model;

before(async () => {
  ref = await loadModel({ modelPath: defaultModelPath(), contextSize: 512, threads: 1 });
  ours = Model.load(DEFAULT_MODEL);
});
after(async () => {
  await ref?.dispose();
  ours?.dispose();
});

test("the default model is a small f16 llama with a ChatML tokenizer, as llama.cpp reads it", async () => {
  const bytes = statSync(DEFAULT_MODEL).size;
  assert.ok(bytes > 1e6 && bytes < 8e6, `${bytes} bytes`);
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(DEFAULT_MODEL);
  const meta = info.metadata as unknown as {
    general: { architecture: string; license: string; file_type: number };
    tokenizer: { chat_template: string; ggml: { model: string; eot_token_id: number } };
  };
  assert.equal(meta.general.architecture, "llama");
  assert.equal(meta.general.license, "MIT");
  assert.equal(meta.general.file_type, 1); // MOSTLY_F16
  assert.equal(meta.tokenizer.ggml.model, "gpt2");
  assert.equal(meta.tokenizer.chat_template, CHATML_TEMPLATE);
  assert.equal(ref.model.detokenize([meta.tokenizer.ggml.eot_token_id as Token], true), "<|im_end|>");
  assert.equal(ref.info.vocabSize, ours.config.nVocab);
  assert.ok(ref.info.vocabSize >= 1024 && ref.info.vocabSize <= 2048, `${ref.info.vocabSize} tokens`);
});

test("tunekit's tokenizer gives llama.cpp's token ids, ChatML special tokens included", () => {
  const texts = [
    "Once upon a time, there was a little fox named Rusty.",
    "¿A qué altura se cultiva mejor el café arábica en Colombia? Entre 1.200 y 2.000 metros.",
    "Call the emergency number and start CPR: 30 compressions, 2 breaths.",
    renderChat(CHATML_TEMPLATE, [{ role: "user", content: "¿Qué es la roya?" }], {
      addGenerationPrompt: true,
    }),
  ];
  for (const text of texts)
    assert.deepEqual(
      ours.tokenizer.encode(text, { parseSpecial: true }),
      [...ref.tokenize(text, true)],
      text,
    );
});

test("greedy generation with tunekit's engine and with llama.cpp begins with the same tokens", async () => {
  for (const prompt of [
    "Once upon a time",
    renderChat(CHATML_TEMPLATE, [{ role: "user", content: "How do I treat a small burn?" }], {
      addGenerationPrompt: true,
    }),
  ]) {
    const mine = generate(ours, prompt, { maxTokens: 12 });
    const theirs = await ref.exclusive(() =>
      generateFromTokens(ref, ref.tokenize(prompt, true), { maxTokens: 12, temperature: 0 }),
    );
    const n = 8;
    assert.ok(mine.tokens.length >= n, `tunekit stopped after ${mine.tokens.length} tokens`);
    assert.deepEqual(mine.tokens.slice(0, n), [...theirs.tokens].slice(0, n), prompt);
    // and it writes something recognisable: mostly letters and spaces, not byte soup
    const letters = (mine.text.match(/[\p{L} ]/gu) ?? []).length;
    assert.ok(letters / Math.max(1, mine.text.length) > 0.8, JSON.stringify(mine.text));
  }
});

test("`npm start` runs the main job, whose base model is this file; the README says how it was made", () => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  assert.match(pkg.scripts.start, /\bquickstart\b/);
  const quickstart = readFileSync(join(PACKAGE_ROOT, "lib/cli/commands/quickstart.ts"), "utf8");
  assert.match(quickstart, /runMainJob/);
  const job = readFileSync(join(PACKAGE_ROOT, "lib/pipeline/main-job.ts"), "utf8");
  assert.match(job, /model: defaultModelPath\(\)/);
  const readme = readFileSync(join(DEFAULT_MODEL_DIR, "README.md"), "utf8");
  for (const words of ["make-default-model.ts", "MIT", "Pretraining loss", "parameters"])
    assert.ok(readme.includes(words), words);
  const build = JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, "build.json"), "utf8")) as {
    pretraining: { finalLoss: number; firstLoss: number };
    model: { bytes: number };
  };
  assert.equal(build.model.bytes, statSync(DEFAULT_MODEL).size);
  assert.ok(build.pretraining.finalLoss < build.pretraining.firstLoss / 3);
});
