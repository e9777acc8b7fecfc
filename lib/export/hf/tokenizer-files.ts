// The tokenizer files of a Hugging Face checkpoint (tokenizer.json, tokenizer_config.json,
// special_tokens_map.json, and tokenizer.model for SentencePiece vocabularies) from a GGUF's tokenizer
// metadata: the inverse of what convert_hf_to_gguf.py (and tunekit's lib/tokenizer/hf*.ts) read.
// - "llama" (SentencePiece) vocabularies: tokenizer.model with the pieces, scores and types, and a
//   tokenizer.json in the form transformers' LlamaConverter writes (BPE with byte fallback, merges
//   extracted from the vocabulary and ordered by score, "▁" normalizer and decoder).
// - "gpt2" (byte-level BPE) vocabularies: tokenizer.json with the merges and the pre-tokenizer whose
//   split regex llama.cpp's pre-tokenizer name stands for (llama-bpe, qwen2, qwen35, gpt-2, smollm,
//   starcoder); other pre-tokenizers have no tokenizer.json form here and are refused.
// Control and user-defined tokens become added tokens; special ids, add_bos/add_eos and the chat template
// go to tokenizer_config.json, where gguf-py's SpecialVocab finds them again.
import { InputError } from "../../util/errors.js";
import type { TokenizerMetadata } from "../../tokenizer/metadata.js";
import { REGEX_TO_PRE } from "../../tokenizer/hf.js";
import { sentencePieceOf, writeSentencePieceModel } from "../../tokenizer/sentencepiece-write.js";
import { TokenType } from "../../tokenizer/vocab.js";

type Json = Record<string, unknown>;

/** Options of {@link hfTokenizerFiles}. */
export interface HfTokenizerOptions {
  /** model_max_length of tokenizer_config.json (the model's training context). */
  contextLength: number;
  /** tokenizer_class for SentencePiece vocabularies: "LlamaTokenizer" or "GemmaTokenizer". */
  sentencePieceClass: "LlamaTokenizer" | "GemmaTokenizer";
  /** The source GGUF, for error messages. */
  where: string;
}

/** File name → contents, and what could not be written. */
export interface HfTokenizerFilesResult {
  files: Map<string, string | Uint8Array>;
  /** Files left out, with the reason (e.g. a vocabulary SentencePiece would not load). */
  warnings: string[];
  /** Special token ids, for config.json and generation_config.json. */
  ids: { bos?: number; eos?: number; eot?: number; pad?: number; unk?: number };
}

const SPECIAL_KEYS = {
  bos: "tokenizer.ggml.bos_token_id",
  eos: "tokenizer.ggml.eos_token_id",
  eot: "tokenizer.ggml.eot_token_id",
  pad: "tokenizer.ggml.padding_token_id",
  unk: "tokenizer.ggml.unknown_token_id",
} as const;

/** llama.cpp's add_bos when the metadata has no key (llama-vocab.cpp: SPM and a few BPE pre-tokenizers). */
const BOS_BY_DEFAULT = new Set(["llama-bpe", "tekken", "chameleon"]);

const PRE_TO_REGEX = Object.fromEntries(Object.entries(REGEX_TO_PRE).map(([re, pre]) => [pre, re]));

/** Writes the tokenizer files for `meta`; see the file comment. */
export function hfTokenizerFiles(meta: TokenizerMetadata, o: HfTokenizerOptions): HfTokenizerFilesResult {
  const model = meta["tokenizer.ggml.model"];
  if (model !== "llama" && model !== "gpt2")
    throw new InputError(
      `tokenizer model "${model}" cannot be written as a Hugging Face tokenizer (supported: llama, gpt2)`,
      { file: o.where, field: "tokenizer.ggml.model" },
    );
  const spm = model === "llama";
  const tokens = meta["tokenizer.ggml.tokens"];
  const types = meta["tokenizer.ggml.token_type"] ?? new Array<number>(tokens.length).fill(TokenType.NORMAL);
  const pre = meta["tokenizer.ggml.pre"] ?? "default";
  const warnings: string[] = [];
  const files = new Map<string, string | Uint8Array>();

  const ids: HfTokenizerFilesResult["ids"] = {};
  for (const [k, key] of Object.entries(SPECIAL_KEYS)) {
    const v = meta[key];
    if (typeof v === "number" && v >= 0 && v < tokens.length) ids[k as keyof typeof ids] = v;
  }
  // the text HF knows a token by: SentencePiece pieces keep "▁", byte-level tokens are already their text
  const content = (id: number) => (spm ? sentencePieceOf(tokens[id], types[id]) : tokens[id]);
  const addBos = meta["tokenizer.ggml.add_bos_token"] ?? (spm || BOS_BY_DEFAULT.has(pre));
  const addEos = meta["tokenizer.ggml.add_eos_token"] ?? false;
  const addPrefix = spm && (meta["tokenizer.ggml.add_space_prefix"] ?? true);

  // added tokens: control and user-defined ones (and SentencePiece's unknown piece, as transformers lists it)
  const added: Json[] = [];
  tokens.forEach((_, id) => {
    const t = types[id];
    const special = t === TokenType.CONTROL || (spm && t === TokenType.UNKNOWN);
    if (!special && t !== TokenType.USER_DEFINED) return;
    added.push({
      id,
      content: content(id),
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: !special,
      special,
    });
  });
  const addedIds = new Set(added.map((a) => a.id as number));

  const vocab: Record<string, number> = {};
  let repeated = 0;
  tokens.forEach((_, id) => {
    // byte-level vocabularies keep added tokens out of model.vocab; llama.cpp's "[PAD<i>]" fillers are gaps
    if (!spm && (addedIds.has(id) || (types[id] === TokenType.UNUSED && /^\[PAD\d+\]$/.test(tokens[id]))))
      return;
    const c = content(id);
    if (c in vocab) repeated++;
    else vocab[c] = id;
  });
  if (repeated)
    warnings.push(`${repeated} tokens repeat an earlier token's text; tokenizer.json keeps the first`);

  let merges: string[][];
  if (spm)
    merges = sentencePieceMerges(
      tokens.map((_, i) => content(i)),
      meta["tokenizer.ggml.scores"],
    );
  else
    merges = (meta["tokenizer.ggml.merges"] ?? []).map((m, i) => {
      const at = m.indexOf(" ", 1);
      if (at < 0)
        throw new InputError(`merge ${i} "${m}" has no space`, {
          file: o.where,
          field: "tokenizer.ggml.merges",
        });
      return [m.slice(0, at), m.slice(at + 1)];
    });
  const mergesJson = merges.some(([l, r]) => l.includes(" ") || r.includes(" "))
    ? merges
    : merges.map(([l, r]) => `${l} ${r}`);

  const tokenJson = (id: number | undefined) => (id === undefined ? undefined : content(id));
  const specialToken = (id: number) => ({ id: content(id), ids: [id], tokens: [content(id)] });
  const single: Json[] = [];
  const pair: Json[] = [];
  const specials: Record<string, Json> = {};
  if (addBos && ids.bos !== undefined) {
    single.push({ SpecialToken: { id: content(ids.bos), type_id: 0 } });
    specials[content(ids.bos)] = specialToken(ids.bos);
  }
  single.push({ Sequence: { id: "A", type_id: 0 } });
  if (addEos && ids.eos !== undefined) {
    single.push({ SpecialToken: { id: content(ids.eos), type_id: 0 } });
    specials[content(ids.eos)] = specialToken(ids.eos);
  }
  pair.push(...single, ...single.map((s) => (s.Sequence ? { Sequence: { id: "B", type_id: 1 } } : s)));

  let normalizer: Json | null = null;
  let preTokenizer: Json | null = null;
  let decoder: Json;
  let postProcessor: Json = { type: "TemplateProcessing", single, pair, special_tokens: specials };
  if (spm) {
    const replace = { type: "Replace", pattern: { String: " " }, content: "\u2581" };
    normalizer = addPrefix
      ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, replace] }
      : replace;
    decoder = {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        ...(addPrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
      ],
    };
  } else {
    preTokenizer = byteLevelPreTokenizer(pre, o.where);
    decoder = { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true };
    if (single.length === 1)
      postProcessor = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  }
  const hasBytes = spm && types.some((t) => t === TokenType.BYTE);
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer,
    pre_tokenizer: preTokenizer,
    post_processor: postProcessor,
    decoder,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: spm ? (tokenJson(ids.unk) ?? null) : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: spm,
      byte_fallback: hasBytes,
      ignore_merges: !spm && pre === "llama-bpe",
      vocab,
      merges: mergesJson,
    },
  };
  files.set("tokenizer.json", JSON.stringify(tokenizerJson, null, 2));

  // the unknown piece stays out: llama.cpp's converter would turn it into a control token
  const addedDecoder: Record<string, Json> = {};
  for (const a of added) {
    const { id, ...rest } = a;
    if (types[id as number] !== TokenType.UNKNOWN) addedDecoder[String(id)] = rest;
  }
  const entry = (id: number | undefined) => tokenJson(id) ?? null;
  const tokenizerConfig: Json = {
    add_bos_token: addBos,
    add_eos_token: addEos,
    ...(spm && !addPrefix && o.sentencePieceClass === "LlamaTokenizer" ? { add_prefix_space: false } : {}),
    added_tokens_decoder: addedDecoder,
    bos_token: entry(ids.bos),
    eos_token: entry(ids.eos),
    unk_token: entry(ids.unk),
    pad_token: entry(ids.pad),
    ...chatTemplates(meta),
    clean_up_tokenization_spaces: !spm && pre === "starcoder",
    model_max_length: o.contextLength,
    ...(spm ? { sp_model_kwargs: {}, spaces_between_special_tokens: false } : {}),
    tokenizer_class: spm ? o.sentencePieceClass : "PreTrainedTokenizerFast",
  };
  files.set("tokenizer_config.json", JSON.stringify(tokenizerConfig, null, 2));

  const specialMap: Json = {};
  for (const k of ["bos", "eos", "unk", "pad"] as const) {
    const id = ids[k];
    if (id === undefined) continue;
    specialMap[`${k}_token`] = {
      content: content(id),
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
    };
  }
  files.set("special_tokens_map.json", JSON.stringify(specialMap, null, 2));

  if (spm) {
    try {
      files.set("tokenizer.model", writeSentencePieceModel(meta, o.where));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      warnings.push(`tokenizer.model left out: ${e.message}`);
    }
  }
  return { files, warnings, ids };
}

/** tokenizer_config's chat_template: the default template, or a list when named variants exist. */
function chatTemplates(meta: TokenizerMetadata): Json {
  const named = Object.entries(meta)
    .filter(([k, v]) => k.startsWith("tokenizer.chat_template.") && typeof v === "string")
    .map(([k, v]) => ({ name: k.slice("tokenizer.chat_template.".length), template: v as string }));
  const main = meta["tokenizer.chat_template"];
  if (named.length === 0) return main === undefined ? {} : { chat_template: main };
  return { chat_template: [...(main === undefined ? [] : [{ name: "default", template: main }]), ...named] };
}

/** tokenizer.json pre-tokenizer for a llama.cpp byte-level pre-tokenizer name (as lib/tokenizer/hf.ts detects them). */
function byteLevelPreTokenizer(pre: string, where: string): Json {
  const byteLevel = (useRegex: boolean) => ({
    type: "ByteLevel",
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: useRegex,
  });
  const regex = PRE_TO_REGEX[pre];
  if (regex)
    return {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false },
        byteLevel(false),
      ],
    };
  if (pre === "gpt-2") return byteLevel(true);
  if (pre === "smollm" || pre === "starcoder")
    return {
      type: "Sequence",
      pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel(true)],
    };
  throw new InputError(
    `the pre-tokenizer "${pre}" has no tokenizer.json form here (supported: ${[...Object.keys(PRE_TO_REGEX), "gpt-2", "smollm", "starcoder"].join(", ")})`,
    { file: where, field: "tokenizer.ggml.pre" },
  );
}

/**
 * BPE merges of a SentencePiece vocabulary, as transformers' SentencePieceExtractor makes them: every split
 * of a piece into two pieces of the vocabulary, grouped per piece (ordered by the two parts' ids), then
 * all ordered by the merged piece's score, highest first (a stable sort).
 */
export function sentencePieceMerges(pieces: string[], scores: ArrayLike<number> | undefined): string[][] {
  const id = new Map<string, number>();
  pieces.forEach((p, i) => {
    if (!id.has(p)) id.set(p, i);
  });
  const out: Array<{ l: string; r: string; score: number }> = [];
  pieces.forEach((piece, i) => {
    if (id.get(piece) !== i) return;
    const local: Array<{ l: string; r: string; score: number }> = [];
    // split between code points (as Python's str slicing does), not inside a surrogate pair
    for (let k = 0; k < piece.length;) {
      k += piece.codePointAt(k)! > 0xffff ? 2 : 1;
      if (k >= piece.length) break;
      const l = piece.slice(0, k);
      const r = piece.slice(k);
      if (id.has(l) && id.has(r)) local.push({ l, r, score: scores ? scores[i] : -i });
    }
    local.sort((a, b) => id.get(a.l)! - id.get(b.l)! || id.get(a.r)! - id.get(b.r)!);
    out.push(...local);
  });
  out.sort((a, b) => b.score - a.score);
  return out.map((m) => [m.l, m.r]);
}
