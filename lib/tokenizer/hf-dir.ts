// Tokenizer metadata from a Hugging Face model folder (the files a checkpoint ships), choosing the way
// convert_hf_to_gguf.py does: the SentencePiece tokenizer.model for SentencePiece-style vocabularies,
// tokenizer.json otherwise.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../util/errors.js";
import { hfTokenizerToGgufMetadata, looksSpecial } from "./hf.js";
import type { TokenizerMetadata } from "./metadata.js";
import { sentencepieceModelToGgufMetadata } from "./sentencepiece.js";
import { TokenType } from "./vocab.js";

type Json = Record<string, unknown>;

function readJson(path: string): Json | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Json;
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { file: path });
  }
}

/**
 * GGUF tokenizer metadata for the Hugging Face checkpoint in `dir` (tokenizer.json and/or tokenizer.model,
 * tokenizer_config.json, config.json, added_tokens.json, chat_template.jinja / chat_template.json).
 * Gemma models (config model_type gemma*) get add_space_prefix = false, as llama.cpp's converter sets.
 */
export function hfDirTokenizerToGgufMetadata(dir: string): TokenizerMetadata {
  const config = readJson(join(dir, "config.json"));
  const tokenizerConfig = readJson(join(dir, "tokenizer_config.json"));
  const tokenizerJson = readJson(join(dir, "tokenizer.json"));
  const spPath = join(dir, "tokenizer.model");
  const jinjaPath = join(dir, "chat_template.jinja");
  const chatTemplate = existsSync(jinjaPath)
    ? readFileSync(jinjaPath, "utf8")
    : (readJson(join(dir, "chat_template.json"))?.chat_template as string | undefined);
  const modelType = String(config?.model_type ?? (config?.text_config as Json | undefined)?.model_type ?? "");

  const jsonModel = tokenizerJson?.model as Json | undefined;
  const useSentencePiece = existsSync(spPath) && (!tokenizerJson || jsonModel?.byte_fallback === true);
  let meta: TokenizerMetadata;
  if (useSentencePiece) {
    const vocabSize = (config?.vocab_size_per_layer_input ?? config?.vocab_size) as number | undefined;
    meta = sentencepieceModelToGgufMetadata(spPath, { vocabSize });
    applyAddedTokens(meta, dir, tokenizerConfig);
    // Special ids and flags as gguf-py's SpecialVocab finds them (the trainer spec's ids stay as defaults).
    const fromHf = tokenizerJson
      ? hfTokenizerToGgufMetadata(tokenizerJson, tokenizerConfig, {
          config,
          chatTemplate,
          source: join(dir, "tokenizer.json"),
        })
      : undefined;
    for (const [k, v] of Object.entries(fromHf ?? {})) {
      if (
        k.endsWith("_token_id") ||
        k.startsWith("tokenizer.ggml.add_b") ||
        k.startsWith("tokenizer.ggml.add_e") ||
        k.startsWith("tokenizer.chat_template")
      ) {
        (meta as unknown as Json)[k] = v;
      }
    }
    if (!fromHf) {
      for (const typ of ["bos", "eos", "pad"] as const) {
        const id = config?.[`${typ}_token_id`];
        const key =
          typ === "pad" ? "tokenizer.ggml.padding_token_id" : (`tokenizer.ggml.${typ}_token_id` as const);
        if (typeof id === "number" && id >= 0 && id < meta["tokenizer.ggml.tokens"].length) meta[key] = id;
      }
      const t = tokenizerConfig?.chat_template ?? chatTemplate;
      if (typeof t === "string") meta["tokenizer.chat_template"] = t;
      for (const typ of ["bos", "eos"] as const) {
        const flag = tokenizerConfig?.[`add_${typ}_token`];
        if (typeof flag === "boolean") meta[`tokenizer.ggml.add_${typ}_token`] = flag;
      }
    }
    if (typeof tokenizerConfig?.add_prefix_space === "boolean" && !tokenizerConfig.add_prefix_space) {
      meta["tokenizer.ggml.add_space_prefix"] = false;
    }
  } else if (tokenizerJson) {
    meta = hfTokenizerToGgufMetadata(tokenizerJson, tokenizerConfig, {
      config,
      chatTemplate,
      source: join(dir, "tokenizer.json"),
    });
  } else {
    throw new InputError("no tokenizer.json or tokenizer.model found", { file: dir });
  }
  if (modelType.startsWith("gemma")) meta["tokenizer.ggml.add_space_prefix"] = false;
  return meta;
}

/** added_tokens.json and tokenizer_config's added_tokens_decoder over a SentencePiece vocabulary. */
function applyAddedTokens(meta: TokenizerMetadata, dir: string, tokenizerConfig: Json | undefined): void {
  const tokens = meta["tokenizer.ggml.tokens"];
  const scores = meta["tokenizer.ggml.scores"]!;
  const types = meta["tokenizer.ggml.token_type"]!;
  const added = readJson(join(dir, "added_tokens.json")) ?? {};
  for (const [text, id] of Object.entries(added)) {
    if (typeof id !== "number" || id < 0 || id >= tokens.length) continue;
    tokens[id] = text;
    scores[id] = -1000;
    types[id] = TokenType.USER_DEFINED;
  }
  const decoder = (tokenizerConfig?.added_tokens_decoder ?? {}) as Record<string, Json>;
  for (const [key, entry] of Object.entries(decoder)) {
    const id = Number(key);
    if (!Number.isInteger(id) || id < 0 || id >= tokens.length || typeof entry?.content !== "string")
      continue;
    let text = entry.content;
    if (entry.special === true || looksSpecial(text)) types[id] = TokenType.CONTROL;
    else {
      text = text.replaceAll("\u2581", " ");
      types[id] = TokenType.USER_DEFINED;
    }
    scores[id] = -1000;
    tokens[id] = text;
  }
}
