// Shared test helpers for test/data: temporary folders, the shared data folder, a Tokenizer adapter
// over node-llama-cpp (an external, independent tokenizer) and the real chat templates.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Template } from "@huggingface/jinja";
import { sharedDir } from "../../lib/util/paths.js";
import type { Tokenizer } from "../../lib/tokenizer/types.js";
import type { RenderFn } from "../../lib/data/tokenize.js";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { openGguf } from "../../lib/gguf/index.js";
import { tokenizerFromGgufMetadata } from "../../lib/tokenizer/index.js";

export const shared = sharedDir();

/** A fresh temporary folder (removed by the returned cleanup). */
export function tempDir(prefix = "tunekit-data-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The n-th template of ../shared/data/chat-templates/chat-templates.jsonl with its format name. */
export function sharedTemplate(index: number): { name: string; template: string } {
  const lines = readFileSync(join(shared!, "data/chat-templates/chat-templates.jsonl"), "utf8").trim().split("\n");
  const [name, template] = Object.entries(JSON.parse(lines[index]!) as Record<string, string>)[0]!;
  return { name, template };
}

/** A render function over @huggingface/jinja with the given special-token strings. */
export function jinjaRender(template: string, bos = "<s>", eos = "</s>"): RenderFn {
  const t = new Template(template);
  return (messages, { addGenerationPrompt, tools }) =>
    t.render({ messages, tools, add_generation_prompt: addGenerationPrompt, bos_token: bos, eos_token: eos });
}

/** node-llama-cpp's tokenizer of the tiny random Llama (real 32k Llama SentencePiece vocabulary) as a Tokenizer. */
export async function llamaCppTokenizer(): Promise<{ tokenizer: Tokenizer; dispose: () => Promise<void> }> {
  const llama = await getLlamaCpp();
  const model = await llama.loadModel({ modelPath: join(shared!, "models/tiny-random-llama/llama-2-tiny-random.gguf") });
  type Tok = Parameters<typeof model.detokenize>[0][number];
  const tokenizer: Tokenizer = {
    vocabSize: 32000, // the Llama 2 vocabulary of this model
    bos: model.tokens.bos ?? undefined,
    eos: model.tokens.eos ?? undefined,
    eot: model.tokens.eot ?? undefined,
    addBos: model.tokens.shouldPrependBosToken,
    encode: (text, o) => {
      const ids = [...model.tokenize(text, o?.parseSpecial ?? false)].map(Number);
      return o?.addBos && model.tokens.bos !== null ? [Number(model.tokens.bos), ...ids] : ids;
    },
    decode: (ids) => model.detokenize(ids.map((i) => i as Tok), true),
    tokenText: (id) => model.detokenize([id as Tok], true),
    isSpecial: (id) => id === model.tokens.bos || id === model.tokens.eos,
  };
  return { tokenizer, dispose: () => model.dispose() };
}

/** Writes `files` (relative path → text or bytes) under `dir`; returns dir. */
export function writeTree(dir: string, files: Record<string, string | Buffer>): string {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

/** JSONL text of values. */
export const jsonl = (...values: unknown[]) => values.map((v) => JSON.stringify(v)).join("\n") + "\n";

/**
 * The tiny Llama's real 32k vocabulary (through lib/tokenizer, which matches llama.cpp) with chat
 * markers added as CONTROL tokens, as real chat models have them; `eot` names the end-of-turn marker.
 */
export function llamaWithSpecials(specials: string[], eot?: string): Tokenizer {
  const file = openGguf(join(shared!, "models/tiny-random-llama/llama-2-tiny-random.gguf"));
  try {
    const meta: Record<string, unknown> = {};
    for (const key of file.metadata.keys()) meta[key] = file.get(key);
    const tokens = Array.from(meta["tokenizer.ggml.tokens"] as ArrayLike<string>);
    const scores = Array.from(meta["tokenizer.ggml.scores"] as ArrayLike<number>);
    const types = Array.from(meta["tokenizer.ggml.token_type"] as ArrayLike<number>);
    for (const s of specials) {
      tokens.push(s);
      scores.push(0);
      types.push(3); // CONTROL
    }
    meta["tokenizer.ggml.tokens"] = tokens;
    meta["tokenizer.ggml.scores"] = scores;
    meta["tokenizer.ggml.token_type"] = types;
    if (eot) meta["tokenizer.ggml.eot_token_id"] = tokens.indexOf(eot);
    return tokenizerFromGgufMetadata(meta);
  } finally {
    file.close();
  }
}
