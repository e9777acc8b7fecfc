// lib/tokenizer/train-bpe.ts: merges learned by hand-checkable rules, words cut by the chosen
// pre-tokenizer, and GGUF metadata with special tokens and a chat template that llama.cpp reads the same.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { LlamaModel } from "node-llama-cpp";
import { byteLevelBpeMetadata, trainByteLevelBpe } from "../../lib/tokenizer/train-bpe.js";
import { tokenizerFromGgufMetadata } from "../../lib/tokenizer/index.js";
import { CHATML_TEMPLATE } from "../../lib/pipeline/default-model.js";
import { loadVocab, tempDir, tokenizationMismatches, writeVocabGguf } from "./helpers.js";

test("merges follow frequency, ties go to the smaller pair, and pairs seen once are never merged", () => {
  // "ab" ×3, "cd" ×3 (tie: "a b" < "c d"), then "ab ab"-level merges; "xy" occurs once
  const bpe = trainByteLevelBpe(["ab ab ab cd cd cd xy"], 10);
  assert.deepEqual(bpe.merges.slice(0, 2), ["a b", "c d"]);
  assert.ok(!bpe.merges.includes("x y"));
  assert.equal(bpe.tokens.length, 256 + bpe.merges.length);
  // the default split keeps a word's leading space: "Ġab" is learned
  assert.ok(bpe.tokens.includes("Ġab"));
});

test("with a pre-tokenizer, merges never cross its word boundaries", () => {
  // qwen2 splits digits one by one: "12" never becomes a token, while the default split keeps "12" whole
  const corpus = ["12 12 12 12 apples"];
  assert.ok(!trainByteLevelBpe(corpus, 20, { preTokenizer: "qwen2" }).tokens.includes("12"));
  assert.ok(trainByteLevelBpe(corpus, 20).tokens.includes("12"));
  assert.throws(() => trainByteLevelBpe(corpus, 5, { preTokenizer: "nope" }), /not supported/);
  assert.throws(() => trainByteLevelBpe(corpus, -1), /nMerges/);
});

test("metadata: special tokens are control tokens after the learned ones; unknown names are refused", () => {
  const bpe = trainByteLevelBpe(["hello hello world world"], 5);
  const meta = byteLevelBpeMetadata(bpe, {
    preTokenizer: "qwen2",
    specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    eos: "<|endoftext|>",
    eot: "<|im_end|>",
  });
  const n = bpe.tokens.length;
  assert.equal(meta["tokenizer.ggml.tokens"].length, n + 3);
  assert.deepEqual(meta["tokenizer.ggml.token_type"]!.slice(n), [3, 3, 3]);
  assert.equal(meta["tokenizer.ggml.eot_token_id"], n + 2);
  assert.throws(
    () => byteLevelBpeMetadata(bpe, { preTokenizer: "qwen2", eos: "</s>" }),
    /not in the vocabulary/,
  );
  assert.throws(
    () => byteLevelBpeMetadata(bpe, { preTokenizer: "qwen2", specialTokens: ["h"] }),
    /must differ/,
  );
});

let model: LlamaModel;
let meta: ReturnType<typeof byteLevelBpeMetadata>;
before(async () => {
  const corpus = [
    "Once upon a time there was a little fox. The fox liked to run in the park with his friends.",
    "¿A qué altura se cultiva mejor el café? Entre 1.200 y 2.000 metros sobre el nivel del mar.",
  ];
  meta = byteLevelBpeMetadata(trainByteLevelBpe(corpus, 120, { preTokenizer: "qwen2" }), {
    preTokenizer: "qwen2",
    specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    bos: "<|endoftext|>",
    eos: "<|endoftext|>",
    eot: "<|im_end|>",
    chatTemplate: CHATML_TEMPLATE,
  });
  const path = join(tempDir("train-bpe"), "vocab.gguf");
  await writeVocabGguf(path, meta);
  model = await loadVocab(path);
});
after(() => model?.dispose());

test("llama.cpp reads the trained vocabulary as tunekit does (ids, special tokens, end of turn)", () => {
  const tok = tokenizerFromGgufMetadata(meta);
  const texts = [
    "Once upon a time, a fox ran to the park.",
    "El café crece entre 1.200 y 2.000 metros.",
    "<|im_start|>user\n¿Qué es la roya?<|im_end|>\n<|im_start|>assistant\n",
    "unseen words: zebra quokka 😀",
  ];
  for (const parseSpecial of [false, true])
    assert.deepEqual(tokenizationMismatches(tok, model, texts, parseSpecial), []);
  assert.equal(tok.eos, model.tokens.eos);
  assert.equal(model.tokens.shouldPrependBosToken, false);
  const imEnd = tok.vocab.tokenToId.get("<|im_end|>")!;
  assert.ok(tok.isEog!(imEnd));
  assert.deepEqual([...model.tokenize("<|im_end|>", true)], [imEnd]);
});
