// Tokenizer conversion: SentencePiece .model and llama2.c .bin (stories260K), Hugging Face tokenizer.json
// (byte-level and SentencePiece-style) and model folders, to GGUF metadata that llama.cpp loads and
// tokenizes identically.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { InputError } from "../../lib/util/errors.js";
import { sharedDir } from "../../lib/util/paths.js";
import {
  hfDirTokenizerToGgufMetadata,
  hfTokenizerToGgufMetadata,
  llama2cTokenizerToGgufMetadata,
  parseSentencePieceModel,
  sentencepieceModelToGgufMetadata,
  tokenizerFromGgufMetadata,
  TokenType,
} from "../../lib/tokenizer/index.js";
import { trainByteLevelBpe } from "../../lib/tokenizer/train-bpe.js";
import { testCorpus } from "./corpus.js";
import { SAMPLE_TEXTS, loadVocab, tempDir, tokenizationMismatches, writeVocabGguf } from "./helpers.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const tok512Model = () => join(shared!, "models/stories260K/tok512.model");
const dir = tempDir("convert");

const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT = LLAMA3_SPLIT.replace("\\p{N}{1,3}", "\\p{N}");

describe("SentencePiece and llama2.c tokenizers", { skip }, () => {
  test("tok512.model: 512 pieces, BPE model, types as SentencePiece marks them", () => {
    const sp = parseSentencePieceModel(readFileSync(tok512Model()));
    assert.equal(sp.pieces.length, 512);
    assert.equal(sp.modelType, 2);
    assert.deepEqual([sp.unkId, sp.bosId, sp.eosId, sp.padId], [0, 1, 2, -1]);
    const meta = sentencepieceModelToGgufMetadata(tok512Model());
    const types = meta["tokenizer.ggml.token_type"]!;
    assert.deepEqual(types.slice(0, 4), [
      TokenType.UNKNOWN,
      TokenType.CONTROL,
      TokenType.CONTROL,
      TokenType.BYTE,
    ]);
    assert.equal(types.filter((t) => t === TokenType.BYTE).length, 256);
    assert.equal(meta["tokenizer.ggml.tokens"][259], "\u2581t");
    assert.equal(meta["tokenizer.ggml.scores"]![260], -1);
  });

  test("tok512.model and tok512.bin (llama.cpp's llama2c converter rules) give the same vocabulary", () => {
    const a = sentencepieceModelToGgufMetadata(tok512Model());
    const b = llama2cTokenizerToGgufMetadata(join(shared!, "models/stories260K/tok512.bin"), 512);
    assert.deepEqual(a["tokenizer.ggml.tokens"], b["tokenizer.ggml.tokens"]);
    assert.deepEqual(a["tokenizer.ggml.scores"], b["tokenizer.ggml.scores"]);
    assert.deepEqual(a["tokenizer.ggml.token_type"], b["tokenizer.ggml.token_type"]);
  });

  test("vocabSize pads with unused [PAD<i>] tokens", () => {
    const meta = sentencepieceModelToGgufMetadata(tok512Model(), { vocabSize: 520 });
    assert.equal(meta["tokenizer.ggml.tokens"][519], "[PAD519]");
    assert.equal(meta["tokenizer.ggml.token_type"]![519], TokenType.UNUSED);
  });

  test("damaged files end with an InputError naming the file", () => {
    const bytes = readFileSync(tok512Model());
    assert.throws(() => sentencepieceModelToGgufMetadata(bytes.subarray(0, 1000)), InputError);
    assert.throws(
      () => sentencepieceModelToGgufMetadata(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])),
      /malformed protobuf/,
    );
    const bin = readFileSync(join(shared!, "models/stories260K/tok512.bin"));
    assert.throws(() => llama2cTokenizerToGgufMetadata(bin.subarray(0, 3000), 512), /truncated/);
  });
});

/** tokenizer.json of a byte-level BPE (learned here) with Llama 3's pre-tokenizer layout. */
function byteLevelTokenizerJson(split: string | undefined, pairMerges: boolean) {
  const bpe = trainByteLevelBpe(testCorpus(), 200);
  const vocab = Object.fromEntries(bpe.tokens.map((t, i) => [t, i]));
  const n = bpe.tokens.length;
  const byteLevel = {
    type: "ByteLevel",
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: split === undefined,
  };
  return {
    bpe,
    json: {
      version: "1.0",
      added_tokens: [
        { id: n, content: "<|begin_of_text|>", special: true, normalized: false },
        { id: n + 1, content: "<|eot_id|>", special: true, normalized: false },
        { id: n + 3, content: "<think>", special: false, normalized: false },
      ],
      normalizer: null,
      pre_tokenizer:
        split === undefined
          ? byteLevel
          : {
              type: "Sequence",
              pretokenizers: [
                { type: "Split", pattern: { Regex: split }, behavior: "Isolated", invert: false },
                byteLevel,
              ],
            },
      post_processor: {
        type: "TemplateProcessing",
        single: [
          { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } },
          { Sequence: { id: "A", type_id: 0 } },
        ],
      },
      decoder: { type: "ByteLevel" },
      model: {
        type: "BPE",
        ignore_merges: true,
        byte_fallback: false,
        vocab,
        merges: pairMerges ? bpe.merges.map((m) => m.split(" ")) : bpe.merges,
      },
    },
  };
}

const CHAT = "{% for m in messages %}<|start|>{{ m.content }}<|eot_id|>{% endfor %}";

describe("Hugging Face byte-level tokenizer.json", () => {
  let model: LlamaModel | undefined;
  after(() => model?.dispose());

  test("tokens, types, merges, pre-tokenizer, special ids, add_bos and chat template", () => {
    const { bpe, json } = byteLevelTokenizerJson(LLAMA3_SPLIT, true);
    const n = bpe.tokens.length;
    const meta = hfTokenizerToGgufMetadata(json, {
      bos_token: "<|begin_of_text|>",
      eos_token: { content: "<|eot_id|>" },
      chat_template: CHAT,
    });
    assert.equal(meta["tokenizer.ggml.model"], "gpt2");
    assert.equal(meta["tokenizer.ggml.pre"], "llama-bpe");
    assert.deepEqual(meta["tokenizer.ggml.tokens"], [
      ...bpe.tokens,
      "<|begin_of_text|>",
      "<|eot_id|>",
      `[PAD${n + 2}]`,
      "<think>",
    ]);
    assert.deepEqual(meta["tokenizer.ggml.token_type"]!.slice(n), [
      TokenType.CONTROL,
      TokenType.CONTROL,
      TokenType.UNUSED,
      TokenType.USER_DEFINED,
    ]);
    assert.deepEqual(meta["tokenizer.ggml.merges"], bpe.merges);
    assert.equal(meta["tokenizer.ggml.bos_token_id"], n);
    assert.equal(meta["tokenizer.ggml.eos_token_id"], n + 1);
    assert.equal(meta["tokenizer.ggml.add_bos_token"], true);
    assert.equal(meta["tokenizer.chat_template"], CHAT);
  });

  test("pre-tokenizer detection: qwen2, gpt-2, smollm; unknown layouts are refused", () => {
    assert.equal(
      hfTokenizerToGgufMetadata(byteLevelTokenizerJson(QWEN2_SPLIT, false).json)["tokenizer.ggml.pre"],
      "qwen2",
    );
    const plain = byteLevelTokenizerJson(undefined, false).json;
    assert.equal(hfTokenizerToGgufMetadata(plain)["tokenizer.ggml.pre"], "gpt-2");
    const digits = {
      ...plain,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [{ type: "Digits", individual_digits: true }, plain.pre_tokenizer],
      },
    };
    assert.equal(
      hfTokenizerToGgufMetadata(digits, { clean_up_tokenization_spaces: false })["tokenizer.ggml.pre"],
      "smollm",
    );
    const odd = byteLevelTokenizerJson("\\w+", false).json;
    assert.throws(
      () => hfTokenizerToGgufMetadata(odd),
      (e: Error) => e instanceof InputError && /pre-tokenizer/.test(e.message),
    );
    assert.equal(hfTokenizerToGgufMetadata(odd, undefined, { pre: "gpt-2" })["tokenizer.ggml.pre"], "gpt-2");
    assert.throws(() => hfTokenizerToGgufMetadata({ model: { type: "Unigram", vocab: [] } }), /Unigram/);
  });

  test("the converted GGUF loads in llama.cpp and tokenizes as tunekit does", async () => {
    const meta = hfTokenizerToGgufMetadata(byteLevelTokenizerJson(LLAMA3_SPLIT, false).json, {
      bos_token: "<|begin_of_text|>",
    });
    const path = join(dir, "hf-bpe.gguf");
    await writeVocabGguf(path, meta);
    model = await loadVocab(path);
    const tok = tokenizerFromGgufMetadata(meta);
    const texts = [...SAMPLE_TEXTS, "<|begin_of_text|>hi<think>"];
    assert.deepEqual(tokenizationMismatches(tok, model, texts, true), []);
    assert.deepEqual(tokenizationMismatches(tok, model, texts, false), []);
  });
});

/**
 * tokenizer.json the way transformers writes it for a SentencePiece BPE model: vocab by id, merges for every
 * split of every piece into two pieces, ordered by the merged piece's id (its SentencePiece score order).
 */
function spmStyleTokenizerJson(pieces: string[]) {
  const vocab = Object.fromEntries(pieces.map((p, i) => [p, i]));
  const merges: [string, string, number, number, number][] = [];
  pieces.forEach((p, id) => {
    const chars = [...p];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join("");
      const b = chars.slice(k).join("");
      if (a in vocab && b in vocab) merges.push([a, b, id, vocab[a], vocab[b]]);
    }
  });
  merges.sort((x, y) => x[2] - y[2] || x[3] - y[3] || x[4] - y[4]);
  return {
    added_tokens: [
      { id: 0, content: "<unk>", special: true },
      { id: 1, content: "<s>", special: true },
      { id: 2, content: "</s>", special: true },
    ],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "\u2581" },
        { type: "Replace", pattern: { String: " " }, content: "\u2581" },
      ],
    },
    pre_tokenizer: null,
    decoder: { type: "Sequence", decoders: [] },
    model: {
      type: "BPE",
      byte_fallback: true,
      fuse_unk: true,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

describe("Hugging Face SentencePiece-style tokenizer.json (byte fallback)", { skip }, () => {
  let model: LlamaModel | undefined;
  after(() => model?.dispose());

  test("tokenizes like the original tokenizer.model, in tunekit and in llama.cpp", async () => {
    const original = sentencepieceModelToGgufMetadata(tok512Model());
    const json = spmStyleTokenizerJson(original["tokenizer.ggml.tokens"]);
    const meta = hfTokenizerToGgufMetadata(json, { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" });
    assert.equal(meta["tokenizer.ggml.model"], "llama");
    assert.equal(meta["tokenizer.ggml.add_space_prefix"], undefined); // Prepend("▁") -> llama.cpp's default (true)
    assert.deepEqual([meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"]], [1, 2]);
    const expected = tokenizerFromGgufMetadata(original);
    const tok = tokenizerFromGgufMetadata(meta);
    for (const text of SAMPLE_TEXTS)
      assert.deepEqual(tok.encode(text), expected.encode(text), JSON.stringify(text));
    const path = join(dir, "hf-spm.gguf");
    await writeVocabGguf(path, meta);
    model = await loadVocab(path);
    assert.deepEqual(tokenizationMismatches(tok, model, SAMPLE_TEXTS, true), []);
  });
});

describe("Hugging Face model folders", { skip }, () => {
  test("tokenizer.model + config (gemma3) + tokenizer_config added tokens", async () => {
    const d = join(dir, "gemma-like");
    mkdirSync(d, { recursive: true });
    copyFileSync(tok512Model(), join(d, "tokenizer.model"));
    writeFileSync(
      join(d, "config.json"),
      JSON.stringify({ model_type: "gemma3_text", vocab_size: 516, eos_token_id: 2 }),
    );
    writeFileSync(
      join(d, "tokenizer_config.json"),
      JSON.stringify({
        added_tokens_decoder: {
          "512": { content: "<start_of_turn>", special: true },
          "513": { content: "<end_of_turn>", special: true },
          "514": { content: "\u2581\u2581", special: false },
        },
        chat_template: CHAT,
      }),
    );
    writeFileSync(join(d, "chat_template.jinja"), "ignored: tokenizer_config has one");
    const meta = hfDirTokenizerToGgufMetadata(d);
    assert.equal(meta["tokenizer.ggml.model"], "llama");
    assert.equal(meta["tokenizer.ggml.add_space_prefix"], false);
    assert.deepEqual(meta["tokenizer.ggml.tokens"].slice(512), [
      "<start_of_turn>",
      "<end_of_turn>",
      "  ",
      "[PAD515]",
    ]);
    assert.deepEqual(meta["tokenizer.ggml.token_type"]!.slice(512), [3, 3, 4, 5]);
    assert.equal(meta["tokenizer.ggml.eos_token_id"], 2);
    assert.equal(meta["tokenizer.chat_template"], CHAT);
    const tok = tokenizerFromGgufMetadata(meta);
    assert.equal(tok.eot, 513);
    // No space prefix (Gemma): "Hello" starts without "▁".
    assert.equal(tok.tokenText(tok.encode("Hello")[0]).startsWith("\u2581"), false);
    // llama.cpp agrees on this vocabulary too (no space prefix, user-defined "  ", control turn markers).
    const path = join(dir, "gemma-like.gguf");
    await writeVocabGguf(path, meta);
    const model = await loadVocab(path);
    try {
      const texts = [...SAMPLE_TEXTS, "<start_of_turn>user\nHi  there<end_of_turn>\n<start_of_turn>model\n"];
      assert.deepEqual(tokenizationMismatches(tok, model, texts, true), []);
      assert.deepEqual(tokenizationMismatches(tok, model, texts, false), []);
      assert.equal(model.tokens.eot, tok.eot);
    } finally {
      await model.dispose();
    }
  });

  test("tokenizer.json folder with a larger config vocab_size and a chat_template.jinja", () => {
    const d = join(dir, "qwen-like");
    mkdirSync(d, { recursive: true });
    const { bpe, json } = byteLevelTokenizerJson(QWEN2_SPLIT, false);
    writeFileSync(join(d, "tokenizer.json"), JSON.stringify(json));
    writeFileSync(
      join(d, "tokenizer_config.json"),
      JSON.stringify({ eos_token: "<|eot_id|>", add_bos_token: false }),
    );
    writeFileSync(
      join(d, "config.json"),
      JSON.stringify({ model_type: "qwen2", vocab_size: bpe.tokens.length + 8 }),
    );
    writeFileSync(join(d, "chat_template.jinja"), CHAT);
    const meta = hfDirTokenizerToGgufMetadata(d);
    assert.equal(meta["tokenizer.ggml.pre"], "qwen2");
    assert.equal(meta["tokenizer.ggml.tokens"].length, bpe.tokens.length + 8);
    assert.equal(meta["tokenizer.ggml.add_bos_token"], false);
    assert.equal(meta["tokenizer.ggml.eos_token_id"], bpe.tokens.length + 1);
    assert.equal(meta["tokenizer.chat_template"], CHAT);
  });
});

test("malformed metadata ends with an InputError naming the key", () => {
  assert.throws(
    () => tokenizerFromGgufMetadata({ "tokenizer.ggml.model": "llama" }),
    /tokenizer\.ggml\.tokens/,
  );
  assert.throws(
    () => tokenizerFromGgufMetadata({ "tokenizer.ggml.model": "t5", "tokenizer.ggml.tokens": ["a"] }),
    /not supported/,
  );
  assert.throws(
    () =>
      tokenizerFromGgufMetadata({
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "deepseek-coder",
        "tokenizer.ggml.tokens": ["a"],
        "tokenizer.ggml.merges": [],
      }),
    (e: Error) => e instanceof InputError && /tokenizer\.ggml\.pre/.test(e.message),
  );
  assert.throws(
    () =>
      tokenizerFromGgufMetadata({
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": ["a", "b"],
        "tokenizer.ggml.scores": [0],
      }),
    /1 scores for 2 tokens/,
  );
});
