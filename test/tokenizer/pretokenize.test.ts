// Pre-tokenizer splits, checked against splits worked out by hand from the published regular expressions
// (GPT-2, Llama 3, Qwen 2, StarCoder/SmolLM, llama.cpp's "default").
import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../../lib/util/errors.js";
import { preTokenize, preTokenizerFor } from "../../lib/tokenizer/pretokenize.js";

const split = (pre: string, text: string) => preTokenize(text, preTokenizerFor(pre));
const SENTENCE = "Hello world's 12345 ok!!\n\nbye";

test("Llama 3: contractions, letter runs with one leading non-letter, 3-digit groups, punctuation + newlines", () => {
  assert.deepEqual(split("llama-bpe", SENTENCE), [
    "Hello",
    " world",
    "'s",
    " ",
    "123",
    "45",
    " ok",
    "!!\n\n",
    "bye",
  ]);
  assert.deepEqual(split("llama3", "1234567"), ["123", "456", "7"]);
  assert.deepEqual(split("llama3", "a   b"), ["a", "  ", " b"]);
  assert.deepEqual(split("llama3", "¿Dónde?"), ["¿Dónde", "?"]);
  assert.deepEqual(split("llama3", "WE'RE"), ["WE", "'RE"]); // case-insensitive contractions
  // U+FEFF is not whitespace for llama.cpp (JavaScript's \s would say it is).
  assert.deepEqual(split("llama3", "a\ufeffb"), ["a", "\ufeffb"]);
  assert.deepEqual(split("llama3", "x \n\n y"), ["x", " \n\n", " y"]);
});

test("Qwen 2: single digits", () => {
  assert.deepEqual(split("qwen2", SENTENCE), [
    "Hello",
    " world",
    "'s",
    " ",
    "1",
    "2",
    "3",
    "4",
    "5",
    " ok",
    "!!\n\n",
    "bye",
  ]);
});

test("GPT-2: optional space before letters/numbers/punctuation, whitespace runs", () => {
  assert.deepEqual(split("gpt-2", SENTENCE), [
    "Hello",
    " world",
    "'s",
    " 12345",
    " ok",
    "!!",
    "\n",
    "\n",
    "bye",
  ]);
  assert.deepEqual(split("gpt-2", "a   b"), ["a", "  ", " b"]);
  assert.deepEqual(split("gpt-2", "WE'RE"), ["WE", "'", "RE"]); // case-sensitive contractions
});

test("StarCoder / SmolLM: digits one by one, then GPT-2", () => {
  assert.deepEqual(split("smollm", "ab12 c3"), ["ab", "1", "2", " c", "3"]);
});

test("llama.cpp default: punctuation runs, GPT-2, number runs, 3-digit groups", () => {
  assert.deepEqual(split("default", "Hello, world! 1234"), ["Hello", ",", " world", "!", " ", "123", "4"]);
});

test("splits cover the text exactly, for every supported family", () => {
  const text = "Mixed: ñandú 🇪🇸 123,456.78 — ‘quotes’\r\n\ttab  end ";
  for (const pre of ["default", "gpt-2", "llama-bpe", "qwen2", "qwen35", "smollm", "falcon"]) {
    assert.equal(split(pre, text).join(""), text, pre);
  }
});

test("an unknown pre-tokenizer is an InputError", () => {
  assert.throws(() => preTokenizerFor("deepseek-llm"), InputError);
});
