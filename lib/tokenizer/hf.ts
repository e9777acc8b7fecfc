// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) to GGUF tokenizer metadata, following
// llama.cpp's convert_hf_to_gguf.py: byte-level BPE vocabularies become "gpt2" (tokens, types, merges,
// pre-tokenizer name), SentencePiece-style BPE vocabularies with byte fallback become "llama" (SPM).
import { InputError } from "../util/errors.js";
import type { TokenizerMetadata } from "./metadata.js";
import { TokenType } from "./vocab.js";

/** An entry of tokenizer.json `added_tokens`. */
interface HfAddedToken {
  id: number;
  content: string;
  special?: boolean;
  normalized?: boolean;
}

type Json = Record<string, unknown>;

/** Options of {@link hfTokenizerToGgufMetadata}. */
export interface HfConversionOptions {
  /** The model's config.json (vocab_size, bos/eos/pad token ids, model_type), if available. */
  config?: Record<string, unknown>;
  /** Force `tokenizer.ggml.pre` instead of detecting it from the pre-tokenizer. */
  pre?: string;
  /** Chat template to store when tokenizer_config.json has none (e.g. from chat_template.jinja). */
  chatTemplate?: string;
  /** Name of the source, for error messages. Default "tokenizer.json". */
  source?: string;
}

const SPECIAL_TYPES = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] as const;
const ID_KEY: Record<string, string> = {
  bos: "tokenizer.ggml.bos_token_id",
  eos: "tokenizer.ggml.eos_token_id",
  unk: "tokenizer.ggml.unknown_token_id",
  sep: "tokenizer.ggml.seperator_token_id",
  pad: "tokenizer.ggml.padding_token_id",
  cls: "tokenizer.ggml.cls_token_id",
  mask: "tokenizer.ggml.mask_token_id",
  eot: "tokenizer.ggml.eot_token_id",
};

// Pre-tokenizer regexes of tokenizer.json (as written there) and the tokenizer.ggml.pre names llama.cpp
// implements them with.
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** Split regex of tokenizer.json → tokenizer.ggml.pre (exported for the HF checkpoint writer, which inverts it). */
export const REGEX_TO_PRE: Record<string, string> = {
  [LLAMA3_REGEX]: "llama-bpe",
  [QWEN2_REGEX]: "qwen2",
  [QWEN35_REGEX]: "qwen35",
};

/** Added tokens llama.cpp's converter treats as control tokens even when not marked special. */
export function looksSpecial(text: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(text) ||
    (text.startsWith("<|") && text.endsWith("|>")) ||
    (text.startsWith("<｜") && text.endsWith("｜>")) ||
    (text.startsWith("<unused") && text.endsWith(">"))
  );
}

function maxKey(m: Map<number, unknown>): number {
  let max = -1;
  for (const k of m.keys()) if (k > max) max = k;
  return max;
}

function asObject(v: unknown, what: string, source: string): Json {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new InputError(`${what} is not an object`, { file: source });
  return v as Json;
}

/** All pre-tokenizer (or normalizer/decoder) components, flattening Sequence. */
function components(node: unknown, listKey: string): Json[] {
  if (node === null || typeof node !== "object") return [];
  const n = node as Json;
  if (n.type === "Sequence" && Array.isArray(n[listKey]))
    return (n[listKey] as unknown[]).flatMap((x) => components(x, listKey));
  return [n];
}

/** The `tokenizer.ggml.pre` name for a byte-level tokenizer.json, or undefined when not recognised. */
export function detectPreTokenizer(tokenizerJson: Json, tokenizerConfig?: Json): string | undefined {
  const parts = components(tokenizerJson.pre_tokenizer, "pretokenizers");
  const splits = parts.filter((p) => p.type === "Split");
  const byteLevel = parts.find((p) => p.type === "ByteLevel");
  if (splits.length === 1) {
    const pattern = splits[0].pattern as Json | undefined;
    const regex = typeof pattern?.Regex === "string" ? pattern.Regex : undefined;
    if (
      regex !== undefined &&
      REGEX_TO_PRE[regex] &&
      parts.length === 2 &&
      byteLevel &&
      byteLevel.use_regex === false
    ) {
      return REGEX_TO_PRE[regex];
    }
    return undefined;
  }
  if (splits.length > 0 || !byteLevel || byteLevel.use_regex === false) return undefined;
  const digits = parts.find((p) => p.type === "Digits");
  if (parts.length === 1) return "gpt-2";
  if (parts.length === 2 && digits?.individual_digits === true) {
    // StarCoder and SmolLM split the same way; llama.cpp cleans decoded spaces for the former only.
    return tokenizerConfig?.clean_up_tokenization_spaces === false ? "smollm" : "starcoder";
  }
  return undefined;
}

/** tokenizer.json merges as GGUF strings ("a b"; spaces inside a part written as U+0120, as llama.cpp does). */
function mergesOf(model: Json, source: string): string[] {
  const merges = model.merges;
  if (merges === undefined) return [];
  if (!Array.isArray(merges)) throw new InputError("model.merges is not an array", { file: source });
  return merges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      return m.map((part: string) => part.replaceAll(" ", "\u0120")).join(" ");
    }
    throw new InputError(`merge ${i} is neither "a b" nor ["a", "b"]`, { file: source });
  });
}

function specialContent(entry: unknown): string | undefined {
  if (typeof entry === "string") return entry;
  if (entry && typeof entry === "object" && typeof (entry as Json).content === "string")
    return (entry as Json).content as string;
  return undefined;
}

/**
 * Special token ids and add_bos/add_eos as gguf-py's SpecialVocab derives them: tokenizer_config's
 * `<type>_token` looked up among tokenizer.json's added tokens, then config.json's `<type>_token_id`;
 * add flags from the post-processor template, overridden by tokenizer_config's `add_<type>_token`.
 */
function specialVocab(
  tokenizerJson: Json | undefined,
  tokenizerConfig: Json | undefined,
  config: Json | undefined,
  nVocab: number,
): { ids: Record<string, number>; add: Record<string, boolean> } {
  const ids: Record<string, number> = {};
  const add: Record<string, boolean> = {};
  const set = (typ: string, id: unknown) => {
    if (typeof id === "number" && Number.isInteger(id) && id >= 0 && id < nVocab && !(typ in ids))
      ids[typ] = id;
  };
  const added = (
    Array.isArray(tokenizerJson?.added_tokens) ? tokenizerJson!.added_tokens : []
  ) as HfAddedToken[];
  const tc = tokenizerConfig ? { ...tokenizerConfig } : undefined;
  if (tokenizerJson && tc) {
    if (!specialContent(tc.bos_token) && specialContent(tc.cls_token)) tc.bos_token = tc.cls_token;
    if (!specialContent(tc.eos_token) && specialContent(tc.sep_token)) tc.eos_token = tc.sep_token;
  }
  // Post-processor: a TemplateProcessing whose single template starts with BOS / ends with EOS.
  const post = tokenizerJson?.post_processor as Json | undefined;
  for (const p of post ? components(post, "processors") : []) {
    if (p.type !== "TemplateProcessing" || !Array.isArray(p.single) || p.single.length < 2) continue;
    const first = specialContent(((p.single[0] as Json).SpecialToken as Json | undefined)?.id);
    const last = specialContent(
      ((p.single[p.single.length - 1] as Json).SpecialToken as Json | undefined)?.id,
    );
    const bos = specialContent(tc?.bos_token);
    const eos = specialContent(tc?.eos_token);
    if (first) add.bos = !tc || first === bos || first === specialContent(tc.cls_token);
    if (last) add.eos = !tc || last === eos;
  }
  if (tc) {
    for (const typ of SPECIAL_TYPES) {
      const flag = tc[`add_${typ}_token`];
      if (typeof flag === "boolean") add[typ] = flag;
      const content = specialContent(tc[`${typ}_token`]);
      if (content !== undefined) set(typ, added.find((a) => a.content === content)?.id);
    }
  }
  for (const typ of SPECIAL_TYPES) {
    const textConfig = config?.text_config as Json | undefined;
    set(typ, config?.[`${typ}_token_id`] ?? textConfig?.[`${typ}_token_id`]);
  }
  return { ids, add };
}

/** tokenizer_config's chat template: a string, or a list of {name, template} (default + named ones). */
function chatTemplates(
  tokenizerConfig: Json | undefined,
  fallback: string | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  const t = tokenizerConfig?.chat_template ?? fallback;
  if (typeof t === "string") out["tokenizer.chat_template"] = t;
  else if (Array.isArray(t)) {
    for (const e of t as Json[]) {
      if (typeof e?.name !== "string" || typeof e.template !== "string") continue;
      out[e.name === "default" ? "tokenizer.chat_template" : `tokenizer.chat_template.${e.name}`] =
        e.template;
    }
  }
  return out;
}

/** Whether a SentencePiece-style tokenizer.json prepends "▁" to the input (llama.cpp's add_space_prefix). */
function addsSpacePrefix(tokenizerJson: Json): boolean {
  for (const n of components(tokenizerJson.normalizer, "normalizers")) {
    if (n.type === "Prepend" && n.prepend === "\u2581") return true;
  }
  for (const p of components(tokenizerJson.pre_tokenizer, "pretokenizers")) {
    if (p.type === "Metaspace") {
      if (p.prepend_scheme === "never" || p.add_prefix_space === false) return false;
      return true;
    }
  }
  return false;
}

/**
 * GGUF tokenizer metadata (the `tokenizer.ggml.*` keys convert_hf_to_gguf.py writes) from a parsed
 * tokenizer.json and, optionally, tokenizer_config.json.
 *
 * - Byte-level BPE (GPT-2, Llama 3, Qwen 2/3, SmolLM): model "gpt2"; tokens by id (gaps as "[PAD<i>]"
 *   unused); added tokens control when special or special-looking, else user-defined; merges; the
 *   pre-tokenizer name recognised from the pre-tokenizer regex ("llama-bpe", "qwen2", "qwen35", "gpt-2",
 *   "smollm"/"starcoder"), or `options.pre`. An unrecognised pre-tokenizer is an InputError.
 * - BPE with byte fallback (Llama 2 / TinyLlama / Mistral / Gemma tokenizer.json): model "llama". Unlike
 *   convert_hf_to_gguf.py, which gives every piece the score -1000 (so llama.cpp merges left to right),
 *   a piece made by a merge gets the score -(rank of that merge), so llama.cpp merges in the original
 *   order; prefer the SentencePiece tokenizer.model (sentencepieceModelToGgufMetadata) when there is one.
 * Special ids, add_bos/add_eos and the chat template come from tokenizer_config.json / config.json.
 */
export function hfTokenizerToGgufMetadata(
  tokenizerJson: unknown,
  tokenizerConfig?: unknown,
  options: HfConversionOptions = {},
): TokenizerMetadata {
  const source = options.source ?? "tokenizer.json";
  const tj = asObject(tokenizerJson, "tokenizer.json", source);
  const tc =
    tokenizerConfig === undefined || tokenizerConfig === null
      ? undefined
      : asObject(tokenizerConfig, "tokenizer_config.json", source);
  const model = asObject(tj.model, "model", source);
  if (model.type !== "BPE") {
    throw new InputError(`tokenizer model type "${String(model.type)}" is not supported (only BPE)`, {
      file: source,
      field: "model.type",
    });
  }
  const vocab = asObject(model.vocab, "model.vocab", source);
  const added = (Array.isArray(tj.added_tokens) ? tj.added_tokens : []) as HfAddedToken[];

  const idToText = new Map<number, string>();
  for (const [text, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new InputError(`vocabulary entry ${JSON.stringify(text)} has id ${String(id)}`, {
        file: source,
        field: "model.vocab",
      });
    }
    idToText.set(id, text);
  }
  const baseSize = maxKey(idToText) + 1;
  const addedById = new Map<number, HfAddedToken>();
  for (const a of added) {
    if (!Number.isInteger(a.id) || typeof a.content !== "string")
      throw new InputError("malformed added_tokens entry", { file: source, field: "added_tokens" });
    addedById.set(a.id, a);
    idToText.set(a.id, a.content);
  }
  const maxId = maxKey(idToText);
  const configVocab =
    typeof options.config?.vocab_size === "number" ? (options.config.vocab_size as number) : undefined;
  const merges = mergesOf(model, source);
  const spmStyle = model.byte_fallback === true;

  let meta: TokenizerMetadata;
  if (!spmStyle) {
    const n = configVocab ?? maxId + 1;
    if (maxId >= n) throw new InputError(`token id ${maxId} is not below vocab_size ${n}`, { file: source });
    const pre = options.pre ?? detectPreTokenizer(tj, tc);
    if (!pre) {
      throw new InputError(
        "the BPE pre-tokenizer was not recognised (supported: the Llama 3, Qwen 2, Qwen 3.5 split regexes, plain ByteLevel, Digits + ByteLevel); pass options.pre",
        { file: source, field: "pre_tokenizer" },
      );
    }
    const tokens: string[] = [];
    const types: number[] = [];
    for (let i = 0; i < n; i++) {
      const text = idToText.get(i);
      const a = addedById.get(i);
      if (text === undefined) {
        tokens.push(`[PAD${i}]`);
        types.push(TokenType.UNUSED);
      } else if (a) {
        const control = a.special === true || looksSpecial(text);
        tokens.push(control ? text : text.replaceAll("\u2581", " "));
        types.push(control ? TokenType.CONTROL : TokenType.USER_DEFINED);
      } else {
        tokens.push(text);
        types.push(TokenType.NORMAL);
      }
    }
    meta = {
      "tokenizer.ggml.model": "gpt2",
      "tokenizer.ggml.pre": pre,
      "tokenizer.ggml.tokens": tokens,
      "tokenizer.ggml.token_type": types,
      "tokenizer.ggml.merges": merges,
    };
  } else {
    // Scores from merge ranks: the piece made by merge r scores -r; other multi-character pieces score
    // below every merge so llama.cpp never prefers them.
    const firstRank = new Map<string, number>();
    merges.forEach((m, r) => {
      const at = m.indexOf(" ", 1);
      const piece = at < 0 ? m : m.slice(0, at) + m.slice(at + 1);
      if (!firstRank.has(piece)) firstRank.set(piece, r);
    });
    const specialIds = new Set<number>();
    for (const typ of SPECIAL_TYPES) {
      const content = specialContent(tc?.[`${typ}_token`]);
      const id = content === undefined ? undefined : [...idToText].find(([, t]) => t === content)?.[0];
      if (id !== undefined) specialIds.add(id);
    }
    for (const a of added) if (a.special) specialIds.add(a.id);
    const tokens: string[] = [];
    const scores: number[] = [];
    const types: number[] = [];
    const n = maxId + 1;
    for (let i = 0; i < n; i++) {
      const text = idToText.get(i);
      if (text === undefined) {
        tokens.push(`[PAD${i}]`);
        scores.push(-1000);
        types.push(TokenType.UNUSED);
        continue;
      }
      tokens.push(i >= baseSize && !specialIds.has(i) ? text.replaceAll("\u2581", " ") : text);
      const rank = firstRank.get(text);
      scores.push(rank !== undefined ? -rank : [...text].length > 1 ? -(merges.length + i) : 0);
      if (/^<0x[0-9A-Fa-f]{2}>$/.test(text)) types.push(TokenType.BYTE);
      else if (specialIds.has(i)) types.push(TokenType.CONTROL);
      else if (i >= baseSize || addedById.has(i))
        types.push(looksSpecial(text) ? TokenType.CONTROL : TokenType.USER_DEFINED);
      else types.push(TokenType.NORMAL);
    }
    meta = {
      "tokenizer.ggml.model": "llama",
      "tokenizer.ggml.pre": "default",
      "tokenizer.ggml.tokens": tokens,
      "tokenizer.ggml.scores": scores,
      "tokenizer.ggml.token_type": types,
    };
    const prefix =
      typeof tc?.add_prefix_space === "boolean" ? (tc.add_prefix_space as boolean) : addsSpacePrefix(tj);
    if (!prefix) meta["tokenizer.ggml.add_space_prefix"] = false;
  }

  const nVocab = meta["tokenizer.ggml.tokens"].length;
  const sv = specialVocab(tj, tc, options.config, nVocab);
  for (const [typ, id] of Object.entries(sv.ids)) (meta as unknown as Json)[ID_KEY[typ]] = id;
  if (sv.add.bos !== undefined) meta["tokenizer.ggml.add_bos_token"] = sv.add.bos;
  if (sv.add.eos !== undefined) meta["tokenizer.ggml.add_eos_token"] = sv.add.eos;
  Object.assign(meta, chatTemplates(tc, options.chatTemplate));
  return meta;
}
