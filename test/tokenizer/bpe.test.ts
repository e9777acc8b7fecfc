// Byte-level BPE (tokenizer.ggml.model = "gpt2") against llama.cpp (node-llama-cpp): a vocabulary learned
// here from a corpus, with control and user-defined tokens, written to GGUFs with different
// pre-tokenizers ("llama-bpe", "qwen2", "gpt-2", "smollm", "default").
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { tokenizerFromGgufMetadata, type LlamaTokenizer } from "../../lib/tokenizer/index.js";
import type { TokenizerMetadata } from "../../lib/tokenizer/metadata.js";
import { TokenType } from "../../lib/tokenizer/vocab.js";
import { trainByteLevelBpe } from "../../lib/tokenizer/train-bpe.js";
import { testCorpus } from "./corpus.js";
import {
  SAMPLE_TEXTS,
  decodeMismatches,
  loadVocab,
  specialTexts,
  tempDir,
  tokenizationMismatches,
  writeVocabGguf,
} from "./helpers.js";

const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const USER_DEFINED = "<think>";
const TEXTS = [
  ...SAMPLE_TEXTS,
  ...specialTexts(["<|im_start|>", "<|im_end|>"]),
  `a ${USER_DEFINED} b${USER_DEFINED}c\n${USER_DEFINED}`,
  "<|endoftext|><|endoftext|> end",
];

/** Metadata of the learned vocabulary with the given pre-tokenizer. */
export function bpeMetadata(pre: string): TokenizerMetadata {
  const bpe = trained;
  const tokens = [...bpe.tokens, ...SPECIALS, USER_DEFINED];
  return {
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.pre": pre,
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.token_type": [
      ...bpe.tokens.map(() => TokenType.NORMAL),
      ...SPECIALS.map(() => TokenType.CONTROL),
      TokenType.USER_DEFINED,
    ],
    "tokenizer.ggml.merges": bpe.merges,
    "tokenizer.ggml.bos_token_id": bpe.tokens.length,
    "tokenizer.ggml.eos_token_id": bpe.tokens.length + 2,
  };
}

let trained: ReturnType<typeof trainByteLevelBpe>;
const dir = tempDir("bpe");

before(async () => {
  trained = trainByteLevelBpe(testCorpus(), 300);
  await getLlamaCpp();
});

test("the learned vocabulary has real merges", () => {
  assert.equal(trained.merges.length, 300);
  assert.ok(trained.tokens.includes("Ġthe"), "expected the merge 'Ġthe'");
});

for (const pre of ["llama-bpe", "qwen2", "gpt-2", "smollm", "default"]) {
  describe(`pre-tokenizer "${pre}"`, () => {
    let tok: LlamaTokenizer;
    let model: LlamaModel;
    before(async () => {
      const meta = bpeMetadata(pre);
      const path = join(dir, `${pre}.gguf`);
      await writeVocabGguf(path, meta);
      tok = tokenizerFromGgufMetadata(meta);
      model = await loadVocab(path);
    });
    after(() => model?.dispose());

    test("token ids equal llama.cpp's (parseSpecial false and true)", () => {
      for (const parseSpecial of [false, true]) {
        assert.deepEqual(tokenizationMismatches(tok, model, TEXTS, parseSpecial), []);
      }
    });
    test("decode equals llama.cpp's detokenize", () => {
      assert.deepEqual(decodeMismatches(tok, model, TEXTS), []);
    });
    test("special ids and flags equal llama.cpp's", () => {
      assert.equal(tok.bos, model.tokens.bos);
      assert.equal(tok.eos, model.tokens.eos);
      // add_bos defaults to true for the Llama 3 pre-tokenizer only.
      assert.equal(tok.addBos, pre === "llama-bpe");
      assert.equal(model.tokens.shouldPrependBosToken, tok.addBos);
      assert.ok(tok.isEog!(tok.vocab.tokenToId.get("<|im_end|>")!));
    });
    test("user-defined tokens are split out even without parseSpecial; control tokens only with it", () => {
      const think = tok.vocab.tokenToId.get(USER_DEFINED)!;
      const start = tok.vocab.tokenToId.get("<|im_start|>")!;
      assert.ok(tok.encode(`x${USER_DEFINED}y`).includes(think));
      assert.ok(!tok.encode("<|im_start|>").includes(start));
      assert.deepEqual(tok.encode("<|im_start|>", { parseSpecial: true }), [start]);
    });
    test("decode(encode(x)) gives x back", () => {
      for (const text of TEXTS) {
        // llama.cpp's space clean-up (" ," -> ",") is on for some pre-tokenizers; compare with it applied.
        const expected = tok.vocab.cleanSpaces ? model.detokenize(model.tokenize(text), true) : text;
        assert.equal(tok.decode(tok.encode(text)), expected);
      }
    });
  });
}
