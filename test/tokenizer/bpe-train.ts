// A tiny byte-level BPE trainer for tests: learns merges from a corpus so that the tests have a GPT-2-style
// vocabulary (tokens, merges) that nobody wrote by hand, to compare tunekit with llama.cpp on.
import { byteEncode, byteToUnicode } from "../../lib/tokenizer/unicode.js";

export interface TrainedBpe {
  /** 256 byte tokens (in byte order), then one token per merge. */
  tokens: string[];
  /** "left right" merges, first learned first. */
  merges: string[];
}

/**
 * Learn `nMerges` merges over the words of `corpus` (words split before spaces, each written with
 * GPT-2's byte characters). Ties between equally frequent pairs go to the lexicographically smaller pair.
 */
export function trainByteLevelBpe(corpus: readonly string[], nMerges: number): TrainedBpe {
  const counts = new Map<string, number>();
  for (const text of corpus) {
    for (const w of text.match(/ ?[^ ]+| +/gu) ?? []) {
      const enc = byteEncode(w);
      counts.set(enc, (counts.get(enc) ?? 0) + 1);
    }
  }
  let words = [...counts].map(([w, c]) => ({ syms: [...w], count: c }));
  const tokens = Array.from({ length: 256 }, (_, b) => byteToUnicode(b));
  const merges: string[] = [];
  const known = new Set(tokens);
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { syms, count } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [k, c] of pairs)
      if (c > bestCount || (c === bestCount && best !== undefined && k < best)) [best, bestCount] = [k, c];
    if (!best) break;
    const [a, b] = best.split(" ");
    merges.push(best);
    if (!known.has(a + b)) tokens.push(a + b);
    known.add(a + b);
    words = words.map(({ syms, count }) => {
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(syms[i]);
      }
      return { syms: out, count };
    });
  }
  return { tokens, merges };
}
