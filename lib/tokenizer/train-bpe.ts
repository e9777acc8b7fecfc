// Learning a byte-level BPE vocabulary (GPT-2 style: 256 byte tokens, then one token per merge) from a
// corpus, and turning it into GGUF tokenizer metadata ("gpt2" model) with special tokens and a chat
// template — how the embedded default model gets its own tokenizer, and how tests get a vocabulary
// nobody wrote by hand.
import { InputError } from "../util/errors.js";
import type { TokenizerMetadata } from "./metadata.js";
import { preTokenize, preTokenizerFor } from "./pretokenize.js";
import { byteEncode, byteToUnicode } from "./unicode.js";
import { TokenType } from "./vocab.js";

export interface TrainedBpe {
  /** 256 byte tokens (in byte order), then one token per merge. */
  tokens: string[];
  /** "left right" merges, first learned first (= highest priority). */
  merges: string[];
}

export interface TrainBpeOptions {
  /**
   * How text is cut into words before merges are counted: a `tokenizer.ggml.pre` name ("qwen2",
   * "llama-bpe", "gpt-2", …) so that the merges fit the pre-tokenizer the vocabulary will be used with.
   * Default: cut before each space (words keep their leading space), the simplest GPT-2-like split.
   */
  preTokenizer?: string;
  /** A pair must occur at least this often to be merged (default 2); learning stops earlier otherwise. */
  minFrequency?: number;
}

/** Counts of byte-encoded words: merges never cross word boundaries. */
function countWords(corpus: readonly string[], preTokenizer: string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  const pre = preTokenizer === undefined ? undefined : preTokenizerFor(preTokenizer);
  for (const text of corpus) {
    const words = pre ? preTokenize(text, pre) : (text.match(/ ?[^ ]+| +/gu) ?? []);
    for (const w of words) {
      const enc = byteEncode(w);
      counts.set(enc, (counts.get(enc) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Learns up to `nMerges` merges over the words of `corpus`. Each round merges the most frequent adjacent
 * pair; ties go to the lexicographically smaller "left right" string, so the result is deterministic.
 * Pair counts are updated incrementally (only the words holding the merged pair are re-counted).
 */
export function trainByteLevelBpe(
  corpus: readonly string[],
  nMerges: number,
  options: TrainBpeOptions = {},
): TrainedBpe {
  if (!Number.isInteger(nMerges) || nMerges < 0)
    throw new InputError(`nMerges must be an integer ≥ 0, got ${nMerges}`, { field: "nMerges" });
  const minFrequency = options.minFrequency ?? 2;
  const words = [...countWords(corpus, options.preTokenizer)].map(([w, count]) => ({ syms: [...w], count }));
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (wi: number, sign: 1 | -1) => {
    const { syms, count } = words[wi];
    for (let i = 0; i + 1 < syms.length; i++) {
      const key = `${syms[i]} ${syms[i + 1]}`;
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * count);
      if (sign === 1) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
    }
  };
  words.forEach((_, wi) => addPairs(wi, 1));

  const tokens = Array.from({ length: 256 }, (_, b) => byteToUnicode(b));
  const known = new Set(tokens);
  const merges: string[] = [];
  for (let m = 0; m < nMerges; m++) {
    let best: string | undefined;
    let bestCount = minFrequency - 1;
    for (const [k, c] of pairCount)
      if (c > bestCount || (c === bestCount && best !== undefined && k < best)) [best, bestCount] = [k, c];
    if (best === undefined || bestCount < minFrequency) break;
    const [a, b] = best.split(" ");
    merges.push(best);
    if (!known.has(a + b)) tokens.push(a + b);
    known.add(a + b);
    for (const wi of pairWords.get(best) ?? []) {
      const { syms } = words[wi];
      if (!syms.some((s, i) => s === a && syms[i + 1] === b)) continue;
      addPairs(wi, -1);
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(syms[i]);
      }
      words[wi].syms = out;
      addPairs(wi, 1);
    }
    pairCount.delete(best);
    pairWords.delete(best);
  }
  return { tokens, merges };
}

export interface ByteLevelBpeMetadataOptions {
  /** `tokenizer.ggml.pre` (the pre-tokenizer the merges were learned with), e.g. "qwen2". */
  preTokenizer: string;
  /** Special tokens appended after the learned tokens, in this order (token type CONTROL). */
  specialTokens?: readonly string[];
  /** Token text of BOS / EOS / end-of-turn / padding (each must be a special token or a learned one). */
  bos?: string;
  eos?: string;
  eot?: string;
  pad?: string;
  /** Whether llama.cpp adds BOS when tokenizing (default false, as Qwen 2 vocabularies). */
  addBos?: boolean;
  /** Jinja chat template (`tokenizer.chat_template`). */
  chatTemplate?: string;
}

/** GGUF tokenizer metadata ("gpt2" byte-level BPE) for a trained vocabulary plus special tokens. */
export function byteLevelBpeMetadata(bpe: TrainedBpe, o: ByteLevelBpeMetadataOptions): TokenizerMetadata {
  const special = o.specialTokens ?? [];
  const tokens = [...bpe.tokens, ...special];
  if (new Set(tokens).size !== tokens.length)
    throw new InputError("special tokens must differ from the learned tokens and from each other", {
      field: "specialTokens",
    });
  const types = tokens.map((_, i) => (i < bpe.tokens.length ? TokenType.NORMAL : TokenType.CONTROL));
  const idOf = (field: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const id = tokens.indexOf(text);
    if (id < 0) throw new InputError(`${field} token "${text}" is not in the vocabulary`, { field });
    return id;
  };
  return {
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.pre": o.preTokenizer,
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.token_type": types,
    "tokenizer.ggml.merges": bpe.merges,
    "tokenizer.ggml.bos_token_id": idOf("bos", o.bos),
    "tokenizer.ggml.eos_token_id": idOf("eos", o.eos),
    "tokenizer.ggml.eot_token_id": idOf("eot", o.eot),
    "tokenizer.ggml.padding_token_id": idOf("pad", o.pad),
    "tokenizer.ggml.add_bos_token": o.addBos ?? false,
    "tokenizer.chat_template": o.chatTemplate,
  };
}
