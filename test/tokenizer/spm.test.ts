// SentencePiece (tokenizer.ggml.model = "llama") tokenization against llama.cpp (node-llama-cpp) on the
// 32k Llama 2 vocabulary of tiny-random-llama and on stories260K's 512-piece SentencePiece model.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { sharedDir } from "../../lib/util/paths.js";
import {
  flattenGgufMetadata,
  tokenizerFromGgufMetadata,
  type LlamaTokenizer,
} from "../../lib/tokenizer/index.js";
import { loadGgufTokenizer } from "../../lib/tokenizer/load.js";
import { sentencepieceModelToGgufMetadata } from "../../lib/tokenizer/sentencepiece.js";
import {
  SAMPLE_TEXTS,
  decodeMismatches,
  loadVocab,
  specialTexts,
  tempDir,
  tokenizationMismatches,
  writeVocabGguf,
} from "./helpers.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const TEXTS = [...SAMPLE_TEXTS, ...specialTexts(["<s>", "</s>"]), "<unk> and <0x0A> written out"];

/** The checks every SPM vocabulary must pass against llama.cpp. */
function compareWithLlama(getTok: () => LlamaTokenizer, getModel: () => LlamaModel): void {
  test("token ids equal llama.cpp's (parseSpecial false and true)", () => {
    for (const parseSpecial of [false, true]) {
      assert.deepEqual(tokenizationMismatches(getTok(), getModel(), TEXTS, parseSpecial), []);
    }
  });
  test("decode equals llama.cpp's detokenize (special tokens rendered or not)", () => {
    assert.deepEqual(decodeMismatches(getTok(), getModel(), TEXTS), []);
  });
  test("bos/eos/eot equal llama.cpp's; addBos prepends BOS", () => {
    const tok = getTok();
    const m = getModel();
    assert.equal(tok.bos, m.tokens.bos ?? undefined);
    assert.equal(tok.eos, m.tokens.eos ?? undefined);
    assert.equal(tok.eot, m.tokens.eot ?? undefined);
    assert.equal(tok.addBos, true);
    assert.deepEqual(tok.encode("Hi", { addBos: true }), [tok.bos!, ...tok.encode("Hi")]);
  });
  test("decode(encode(x)) gives x back", () => {
    const tok = getTok();
    for (const text of TEXTS) assert.equal(tok.decode(tok.encode(text)), text);
  });
}

describe("tiny-random-llama (Llama 2, 32000 tokens)", { skip }, () => {
  let tok: LlamaTokenizer;
  let model: LlamaModel;
  before(async () => {
    const path = join(shared!, "models/tiny-random-llama/llama-2-tiny-random.gguf");
    const { readGgufFileInfo } = await import("node-llama-cpp");
    const info = await readGgufFileInfo(path, { readTensorInfo: false });
    tok = tokenizerFromGgufMetadata(flattenGgufMetadata(info.metadata as unknown as Record<string, unknown>));
    model = await loadVocab(path);
  });
  after(() => model?.dispose());
  compareWithLlama(
    () => tok,
    () => model,
  );
  test("loadGgufTokenizer (lib/gguf reader) gives the same tokenizer", () => {
    const fromFile = loadGgufTokenizer(join(shared!, "models/tiny-random-llama/llama-2-tiny-random.gguf"));
    assert.equal(fromFile.vocabSize, tok.vocabSize);
    for (const text of TEXTS)
      assert.deepEqual(
        fromFile.encode(text, { parseSpecial: true }),
        tok.encode(text, { parseSpecial: true }),
      );
  });
  test("known ids: BOS/EOS/UNK and byte fallback", () => {
    assert.equal(tok.vocabSize, 32000);
    assert.equal(tok.tokenText(1), "<s>");
    assert.equal(tok.isSpecial(2), true);
    assert.equal(tok.isSpecial(tok.encode("Hello")[0]), false);
    // "\u0085" has no piece: UTF-8 C2 85 -> <0xC2> <0x85> (ids 3 + byte)
    assert.deepEqual(tok.encode("\u0085").slice(-2), [3 + 0xc2, 3 + 0x85]);
  });
});

describe("stories260K tok512.model written to a GGUF", { skip }, () => {
  let tok: LlamaTokenizer;
  let model: LlamaModel;
  before(async () => {
    const meta = sentencepieceModelToGgufMetadata(join(shared!, "models/stories260K/tok512.model"));
    const path = join(tempDir("spm"), "tok512.gguf");
    await writeVocabGguf(path, meta);
    tok = tokenizerFromGgufMetadata(meta);
    model = await loadVocab(path);
  });
  after(() => model?.dispose());
  compareWithLlama(
    () => tok,
    () => model,
  );
  test("a story sentence uses merged pieces", () => {
    const ids = tok.encode("Once upon a time");
    assert.ok(ids.length < "Once upon a time".length / 2, `expected merges, got ${ids.length} ids`);
    assert.equal(tok.decode(ids), "Once upon a time");
  });
});
