// Shared helpers of the tokenizer tests: vocabulary-only GGUF files that llama.cpp (node-llama-cpp) loads,
// and the comparison of tunekit's token ids with llama.cpp's.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LlamaModel, Token } from "node-llama-cpp";
import { gguf } from "../../lib/gguf/values.js";
import { writeGguf } from "../../lib/gguf/write.js";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { tokenizerMetadataToGguf, type TokenizerMetadata } from "../../lib/tokenizer/metadata.js";
import type { Tokenizer } from "../../lib/tokenizer/types.js";

/** A fresh temporary directory for one test file. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tunekit-${prefix}-`));
}

/** Zero f32 tensors of a 1-layer llama with n_embd 8 (only so that llama.cpp's loader finds them). */
function tinyLlamaTensors(nVocab: number) {
  const t = (name: string, shape: number[]) => ({
    name,
    type: 0, // f32
    shape,
    data: new Uint8Array(shape.reduce((a, b) => a * b, 4)),
  });
  return [
    t("token_embd.weight", [8, nVocab]),
    t("output_norm.weight", [8]),
    t("blk.0.attn_norm.weight", [8]),
    t("blk.0.attn_q.weight", [8, 8]),
    t("blk.0.attn_k.weight", [8, 8]),
    t("blk.0.attn_v.weight", [8, 8]),
    t("blk.0.attn_output.weight", [8, 8]),
    t("blk.0.ffn_norm.weight", [8]),
    t("blk.0.ffn_gate.weight", [8, 16]),
    t("blk.0.ffn_up.weight", [8, 16]),
    t("blk.0.ffn_down.weight", [16, 8]),
  ];
}

/**
 * Writes a GGUF of a tiny 1-layer llama (zero weights) with the given tokenizer metadata; tests load it
 * with `vocabOnly`, which is all tokenization needs (the tensors only keep llama.cpp's loader quiet).
 */
export async function writeVocabGguf(
  path: string,
  tokenizerMeta: TokenizerMetadata | Record<string, unknown>,
): Promise<void> {
  const metadata = new Map([
    ["general.architecture", gguf.str("llama")],
    ["general.name", gguf.str("tokenizer-test")],
    ["llama.context_length", gguf.u32(256)],
    ["llama.embedding_length", gguf.u32(8)],
    ["llama.block_count", gguf.u32(1)],
    ["llama.feed_forward_length", gguf.u32(16)],
    ["llama.attention.head_count", gguf.u32(2)],
    ["llama.attention.layer_norm_rms_epsilon", gguf.f32(1e-5)],
    ...tokenizerMetadataToGguf(tokenizerMeta),
  ]);
  const nVocab = (tokenizerMeta["tokenizer.ggml.tokens"] as readonly unknown[]).length;
  await writeGguf(path, { metadata, tensors: tinyLlamaTensors(nVocab) });
}

/** Loads a GGUF's vocabulary in llama.cpp. */
export async function loadVocab(path: string): Promise<LlamaModel> {
  const llama = await getLlamaCpp();
  return llama.loadModel({ modelPath: path, vocabOnly: true, gpuLayers: 0 });
}

/** Varied text: Unicode (Spanish, Russian, CJK, emoji), whitespace runs, newlines, digits, code. */
export const SAMPLE_TEXTS: readonly string[] = [
  "Hello world",
  " Hello  world ",
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
  "¿Dónde está la biblioteca? Ñandú, pingüino, acción, corazón.",
  "Привет, как дела? Съешь же ещё этих мягких французских булок.",
  "日本語のテキストと中文文本。한국어도 있어요.",
  "emoji 😀🎉👍🏽 family 👨‍👩‍👧‍👦 flag 🇪🇸",
  "   leading and trailing   ",
  "tabs\tand\nnewlines\n\n\nand\r\nCRLF\n",
  "digits 0123456789 3.14159 1,000,000 12345678901234567890",
  'function f(x) {\n    return x * 2; // double\n}\nif (a != b) {\n\t\tprint("hi");\n}',
  "It's I'm we'll they've you'd HE'S WE'RE",
  "a\u00a0b\u2003c\u3000d\u0085e",
  "\u200b\u200dzero\ufeffwidth",
  " ",
  "  ",
  "\n",
  "x",
  "ÿ\u00ad Ⅻ ½ ² ٣ ñ",
  "e\u0301 combining a\u0308",
  "$100 + 5% = <tag> ~tilde~ ^caret^ |pipe| `tick`",
  "....!!!???,,,---===",
];

/** Texts with special-token text in them (compared with and without parseSpecial). */
export function specialTexts(specials: readonly string[]): string[] {
  const [a = "<s>", b = "</s>"] = specials;
  return [
    `${a}Hello${b}`,
    ` ${a} spaced ${b} `,
    `${a}${a}${b}`,
    `x${b}\n${a}user\nHi there${b}\n`,
    `${a.slice(0, -1)} half ${b.slice(1)}`,
  ];
}

/** Each text where tunekit's ids differ from llama.cpp's (empty when all agree). */
export function tokenizationMismatches(
  tok: Tokenizer,
  model: LlamaModel,
  texts: readonly string[],
  parseSpecial: boolean,
): { text: string; ours: number[]; llama: number[] }[] {
  const bad: { text: string; ours: number[]; llama: number[] }[] = [];
  for (const text of texts) {
    const ours = tok.encode(text, { parseSpecial });
    const llama = Array.from(model.tokenize(text, parseSpecial) as number[]);
    if (JSON.stringify(ours) !== JSON.stringify(llama)) bad.push({ text, ours, llama });
  }
  return bad;
}

/** Texts where tunekit's decode differs from llama.cpp's detokenize (of llama.cpp's own ids). */
export function decodeMismatches(
  tok: Tokenizer,
  model: LlamaModel,
  texts: readonly string[],
): { text: string; ours: string; llama: string }[] {
  const bad: { text: string; ours: string; llama: string }[] = [];
  for (const text of texts) {
    const ids = Array.from(model.tokenize(text, true) as number[]);
    for (const special of [true, false]) {
      const ours = tok.decode(ids, { renderSpecial: special });
      const llama = model.detokenize(ids as Token[], special);
      if (ours !== llama) bad.push({ text, ours, llama });
    }
  }
  return bad;
}
