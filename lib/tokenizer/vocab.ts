// A llama.cpp vocabulary read from GGUF tokenizer metadata (flat `tokenizer.ggml.*` keys): token texts,
// scores, attributes, merges, special ids and flags, resolved with llama.cpp's defaults and its
// text-based detection of end-of-generation and control tokens (llama_vocab::impl::load).
import { InputError } from "../util/errors.js";
import { preTokenizerFor, type PreTokenizer } from "./pretokenize.js";
import { utf8Length } from "./unicode.js";

/** GGUF `tokenizer.ggml.token_type` values (llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** Token attribute bits (llama_token_attr). */
export const Attr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

const TYPE_TO_ATTR: Record<number, number> = {
  [TokenType.UNKNOWN]: Attr.UNKNOWN,
  [TokenType.UNUSED]: Attr.UNUSED,
  [TokenType.NORMAL]: Attr.NORMAL,
  [TokenType.CONTROL]: Attr.CONTROL,
  [TokenType.USER_DEFINED]: Attr.USER_DEFINED,
  [TokenType.BYTE]: Attr.BYTE,
};

/** The resolved vocabulary. */
export interface Vocab {
  /** "spm" for `tokenizer.ggml.model = "llama"`, "bpe" for "gpt2". */
  kind: "spm" | "bpe";
  /** Value of tokenizer.ggml.model. */
  model: string;
  texts: string[];
  scores: Float32Array;
  attrs: Uint16Array;
  /** Text -> id (the last id wins for duplicated texts, as in llama.cpp). */
  tokenToId: Map<string, number>;
  /** BPE merge ranks keyed by mergeKey(left, right). */
  bpeRanks: Map<string, number>;
  pre?: PreTokenizer;
  bos?: number;
  eos?: number;
  eot?: number;
  eom?: number;
  unk?: number;
  sep?: number;
  pad?: number;
  eogIds: Set<number>;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  cleanSpaces: boolean;
  ignoreMerges: boolean;
  /** Ids of control, user-defined and unknown tokens, longest text (in UTF-8 bytes) first. */
  specialCache: number[];
  chatTemplate?: string;
}

/** Key of a BPE merge pair in Vocab.bpeRanks. */
export function mergeKey(left: string, right: string): string {
  return `${left.length}:${left}${right}`;
}

// ---- metadata accessors -------------------------------------------------------------------------

type Meta = Record<string, unknown>;

function toNumber(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function getString(meta: Meta, key: string): string | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new InputError(`expected a string, got ${typeof v}`, { field: key });
  return v;
}

function getBool(meta: Meta, key: string): boolean | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new InputError(`expected a boolean, got ${typeof v}`, { field: key });
  return v;
}

function getUint(meta: Meta, key: string): number | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  const n = toNumber(v);
  if (n === undefined || !Number.isInteger(n))
    throw new InputError(`expected an integer, got ${String(v)}`, { field: key });
  return n;
}

function getArray(meta: Meta, key: string): ArrayLike<unknown> | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return v as unknown as ArrayLike<unknown>;
  throw new InputError(`expected an array, got ${typeof v}`, { field: key });
}

// ---- llama.cpp's text-based token detection -----------------------------------------------------

const EOT_TEXTS = [
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "<|end_of_text|>",
  "<EOT>",
  "_<EOT>",
  "[EOT]",
  "<｜end▁of▁sentence｜>",
  "<end_of_utterance>",
];
const EOM_TEXTS = ["<|eom_id|>"];
const FIM_TEXTS: Record<string, string[]> = {
  pre: [
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
  ],
  suf: [
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
  ],
  mid: [
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
  ],
  pad: ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
  rep: ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
  sep: ["<|file_sep|>"],
};
const EOG_TEXTS = new Set([
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<|return|>",
  "<|call|>",
  "<|flush|>",
  "<|calls|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "</s>",
  "<|eom_id|>",
  "<EOT>",
  "_<EOT>",
  "[EOT]",
  "[EOS]",
  "<|end_of_text|>",
  "<end_of_utterance>",
  "<eos>",
  "<turn|>",
  "<|tool_response>",
  "<｜end▁of▁sentence｜>",
  "[e~[",
]);
/** gpt-oss tokens llama.cpp always renders (forced to USER_DEFINED). */
const ALWAYS_RENDERED = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/**
 * Resolve a vocabulary from flat GGUF metadata. Mirrors llama.cpp's loader; where llama.cpp's choice
 * depends on hash-map iteration order (text-based EOT/FIM detection when several candidates exist),
 * the first candidate in llama.cpp's list is taken.
 */
export function vocabFromMetadata(meta: Meta | object): Vocab {
  return resolveVocab(meta as Meta);
}

function resolveVocab(meta: Meta): Vocab {
  const model = getString(meta, "tokenizer.ggml.model");
  if (model === undefined) throw new InputError("missing tokenizer model", { field: "tokenizer.ggml.model" });

  let kind: "spm" | "bpe";
  let bos: number | undefined;
  let eos: number | undefined;
  let unk: number | undefined;
  let pre: PreTokenizer | undefined;
  let addSpacePrefix: boolean;
  let addBos: boolean;
  let cleanSpaces: boolean;
  let ignoreMerges = false;
  const bpeRanks = new Map<string, number>();

  if (model === "llama") {
    kind = "spm";
    [bos, eos, unk] = [1, 2, 0];
    addSpacePrefix = true;
    addBos = true;
    cleanSpaces = false;
  } else if (model === "gpt2") {
    kind = "bpe";
    [bos, eos, unk] = [11, 11, undefined];
    const merges = getArray(meta, "tokenizer.ggml.merges");
    if (!merges) throw new InputError("cannot find tokenizer merges", { field: "tokenizer.ggml.merges" });
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      if (typeof m !== "string")
        throw new InputError(`merge ${i} is not a string`, { field: "tokenizer.ggml.merges" });
      // llama.cpp splits at the first space after the first character; a merge without one maps ("","").
      const at = m.indexOf(" ", 1);
      const key = at >= 0 ? mergeKey(m.slice(0, at), m.slice(at + 1)) : mergeKey("", "");
      if (!bpeRanks.has(key)) bpeRanks.set(key, i);
    }
    pre = preTokenizerFor(getString(meta, "tokenizer.ggml.pre"));
    addSpacePrefix = false;
    addBos = pre.addBos;
    cleanSpaces = pre.cleanSpaces;
    ignoreMerges = pre.ignoreMerges;
  } else {
    throw new InputError(`tokenizer model "${model}" is not supported (supported: llama, gpt2)`, {
      field: "tokenizer.ggml.model",
    });
  }
  addSpacePrefix = getBool(meta, "tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;

  const tokens = getArray(meta, "tokenizer.ggml.tokens");
  if (!tokens) throw new InputError("cannot find the token list", { field: "tokenizer.ggml.tokens" });
  const n = tokens.length;
  const scoresIn = getArray(meta, "tokenizer.ggml.scores");
  if (scoresIn && scoresIn.length < n) {
    throw new InputError(`${scoresIn.length} scores for ${n} tokens`, { field: "tokenizer.ggml.scores" });
  }
  const typesIn = getArray(meta, "tokenizer.ggml.token_type");
  if (typesIn && typesIn.length < n) {
    throw new InputError(`${typesIn.length} token types for ${n} tokens`, {
      field: "tokenizer.ggml.token_type",
    });
  }

  const texts: string[] = new Array(n);
  const scores = new Float32Array(n);
  const attrs = new Uint16Array(n);
  const tokenToId = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const raw = tokens[i];
    if (typeof raw !== "string")
      throw new InputError(`token ${i} is not a string`, { field: "tokenizer.ggml.tokens" });
    const t = raw === "" ? `[EMPTY_${i}]` : raw;
    texts[i] = t;
    tokenToId.set(t, i);
    scores[i] = scoresIn ? (toNumber(scoresIn[i]) ?? 0) : 0;
    if (typesIn) {
      const type = toNumber(typesIn[i]) ?? 0;
      attrs[i] = TYPE_TO_ATTR[type] ?? Attr.UNDEFINED;
    } else {
      attrs[i] = Attr.NORMAL;
    }
  }

  // Special ids: defaults out of range are dropped; a key out of range keeps the default.
  const special = (key: string, def: number | undefined): number | undefined => {
    let id = def !== undefined && def >= n ? undefined : def;
    const v = getUint(meta, key);
    if (v !== undefined && v >= 0 && v < n) id = v;
    return id;
  };
  bos = special("tokenizer.ggml.bos_token_id", bos);
  eos = special("tokenizer.ggml.eos_token_id", eos);
  let eot = special("tokenizer.ggml.eot_token_id", undefined);
  let eom = special("tokenizer.ggml.eom_token_id", undefined);
  unk = special("tokenizer.ggml.unknown_token_id", unk);
  const sep = special("tokenizer.ggml.seperator_token_id", undefined);
  const pad = special("tokenizer.ggml.padding_token_id", undefined);
  const fim: Record<string, number | undefined> = {
    pre: special("tokenizer.ggml.prefix_token_id", special("tokenizer.ggml.fim_pre_token_id", undefined)),
    suf: special("tokenizer.ggml.suffix_token_id", special("tokenizer.ggml.fim_suf_token_id", undefined)),
    mid: special("tokenizer.ggml.middle_token_id", special("tokenizer.ggml.fim_mid_token_id", undefined)),
    pad: special("tokenizer.ggml.fim_pad_token_id", undefined),
    rep: special("tokenizer.ggml.fim_rep_token_id", undefined),
    sep: special("tokenizer.ggml.fim_sep_token_id", undefined),
  };

  addBos = getBool(meta, "tokenizer.ggml.add_bos_token") ?? addBos;
  const addEos = getBool(meta, "tokenizer.ggml.add_eos_token") ?? false;

  const forceControl = (id: number) => {
    attrs[id] |= Attr.CONTROL;
  };
  const firstPresent = (candidates: string[]) => {
    for (const t of candidates) {
      const id = tokenToId.get(t);
      if (id !== undefined) return id;
    }
    return undefined;
  };
  if (eot === undefined) {
    eot = firstPresent(EOT_TEXTS);
    if (eot !== undefined) forceControl(eot);
  }
  if (eom === undefined) {
    eom = firstPresent(EOM_TEXTS);
    if (eom !== undefined) forceControl(eom);
  }
  for (const k of Object.keys(FIM_TEXTS)) {
    if (fim[k] === undefined) {
      fim[k] = firstPresent(FIM_TEXTS[k]);
      if (fim[k] !== undefined) forceControl(fim[k]!);
    }
  }

  // Control tokens named "...unused..." are unused.
  for (const [t, id] of tokenToId) {
    if (attrs[id] & Attr.CONTROL && t.includes("unused")) attrs[id] |= Attr.UNUSED;
  }

  const eogIds = new Set<number>();
  for (const id of [fim.pad, fim.rep, fim.sep]) if (id !== undefined) eogIds.add(id);
  for (const [t, id] of tokenToId) {
    if (EOG_TEXTS.has(t)) {
      eogIds.add(id);
      forceControl(id);
    }
  }
  for (const t of ALWAYS_RENDERED) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = Attr.USER_DEFINED;
  }
  for (const id of [eos, eot, eom]) if (id !== undefined) eogIds.add(id);
  // o200k_harmony / solar-open: "<|end|>" is not end-of-generation when the return/call tokens exist.
  {
    const has = (t: string) => [...eogIds].some((id) => texts[id] === t);
    const endId = [...eogIds].find((id) => texts[id] === "<|end|>");
    const hasCall = has("<|call|>") || has("<|calls|>");
    if (endId !== undefined && ((has("<|return|>") && hasCall) || (hasCall && has("<|flush|>")))) {
      eogIds.delete(endId);
      attrs[endId] = Attr.USER_DEFINED;
    }
    const sId = [...eogIds].find((id) => texts[id] === "</s>");
    if (sId !== undefined && has("<|tool_response>")) {
      eogIds.delete(sId);
      attrs[sId] = Attr.NORMAL;
    }
  }

  const specialCache: number[] = [];
  for (let id = 0; id < n; id++) {
    if (attrs[id] & (Attr.CONTROL | Attr.USER_DEFINED | Attr.UNKNOWN)) specialCache.push(id);
  }
  const byteLen = new Map(specialCache.map((id) => [id, utf8Length(texts[id])]));
  specialCache.sort((a, b) => byteLen.get(b)! - byteLen.get(a)!);

  // Per-model attributes llama.cpp sets by name (only Phi-3 applies to the vocabularies supported here).
  const name = (getString(meta, "general.name") ?? "").toLowerCase();
  if (name.includes("phi-3") || name.includes("phi3")) {
    for (const id of specialCache) attrs[id] |= Attr.RSTRIP;
    const set = (t: string, on: boolean) => {
      const id = tokenToId.get(t);
      if (id !== undefined) attrs[id] = on ? attrs[id] | Attr.RSTRIP : attrs[id] & ~Attr.RSTRIP;
    };
    set("</s>", true);
    for (const t of ["<unk>", "<s>", "<|endoftext|>"]) set(t, false);
  }

  const chatTemplate =
    typeof meta["tokenizer.chat_template"] === "string"
      ? (meta["tokenizer.chat_template"] as string)
      : undefined;

  return {
    kind,
    model,
    texts,
    scores,
    attrs,
    tokenToId,
    bpeRanks,
    pre,
    bos,
    eos,
    eot,
    eom,
    unk,
    sep,
    pad,
    eogIds,
    addBos,
    addEos,
    addSpacePrefix,
    cleanSpaces,
    ignoreMerges,
    specialCache,
    chatTemplate,
  };
}
