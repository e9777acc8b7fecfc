// SentencePiece-style merging (llama.cpp's SPM tokenizer): start from single characters and repeatedly merge
// the adjacent pair whose concatenation is the vocabulary token with the highest score (ties: leftmost).
// Characters that never form a token fall back to byte tokens <0xNN>.
import { TunekitError } from "../util/errors.js";
import { Heap } from "./heap.js";
import { utf8 } from "./unicode.js";
import type { Vocab } from "./vocab.js";

interface Symbol {
  /** Offset of the symbol's text in the input, in UTF-16 code units. */
  start: number;
  /** Length in UTF-16 code units; 0 once merged into its left neighbour. */
  n: number;
  prev: number;
  next: number;
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

const bigramFirst = (a: Bigram, b: Bigram) => a.score > b.score || (a.score === b.score && a.left < b.left);

/** The byte-fallback token of one byte: "<0xNN>", else a token whose text is that single character. */
export function spmByteToken(vocab: Vocab, byte: number): number {
  const hex = byte.toString(16).toUpperCase().padStart(2, "0");
  const id =
    vocab.tokenToId.get(`<0x${hex}>`) ??
    (byte < 0x80 ? vocab.tokenToId.get(String.fromCharCode(byte)) : undefined);
  if (id === undefined)
    throw new TunekitError(`the vocabulary has no token for byte 0x${hex} (no <0x${hex}> token)`);
  return id;
}

/** Tokenize text whose spaces are already written as "▁"; appends ids to `out`. */
export function spmTokenize(vocab: Vocab, text: string, out: number[]): void {
  const symbols: Symbol[] = [];
  let offset = 0;
  for (const ch of text) {
    const index = symbols.length;
    symbols.push({ start: offset, n: ch.length, prev: index - 1, next: index + 1 });
    offset += ch.length;
  }
  if (symbols.length === 0) return;
  symbols[symbols.length - 1].next = -1;

  const queue = new Heap<Bigram>(bigramFirst);
  const tryAddBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const s = symbols[left];
    const piece = text.slice(s.start, s.start + s.n + symbols[right].n);
    const id = vocab.tokenToId.get(piece);
    if (id === undefined) return;
    queue.push({ left, right, score: vocab.scores[id], size: piece.length });
  };
  for (let i = 1; i < symbols.length; i++) tryAddBigram(i - 1, i);

  for (let bigram = queue.pop(); bigram; bigram = queue.pop()) {
    const left = symbols[bigram.left];
    const right = symbols[bigram.right];
    // Sizes only grow, so a bigram whose symbols changed since it was queued is detected here.
    if (left.n === 0 || right.n === 0 || left.n + right.n !== bigram.size) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    tryAddBigram(left.prev, bigram.left);
    tryAddBigram(bigram.left, left.next);
  }

  // Every merged symbol is a token by construction; a lone character that is not becomes bytes.
  for (let i = 0; i !== -1; i = symbols[i].next) {
    const s = symbols[i];
    const piece = text.slice(s.start, s.start + s.n);
    const id = vocab.tokenToId.get(piece);
    if (id !== undefined) out.push(id);
    else for (const b of utf8(piece)) out.push(spmByteToken(vocab, b));
  }
}
