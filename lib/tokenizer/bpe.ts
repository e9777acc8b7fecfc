// Byte-level BPE (llama.cpp's BPE tokenizer for `tokenizer.ggml.model = "gpt2"`): pre-tokenize into words,
// write each word's UTF-8 bytes with GPT-2's byte characters, then repeatedly apply the lowest-ranked merge
// among adjacent symbols (ties: leftmost).
import { Heap } from "./heap.js";
import { preTokenize } from "./pretokenize.js";
import { byteEncode, utf8 } from "./unicode.js";
import { mergeKey, type Vocab } from "./vocab.js";

interface Symbol {
  text: string;
  /** 0 once merged into its left neighbour. */
  n: number;
  prev: number;
  next: number;
}

interface Bigram {
  left: number;
  right: number;
  text: string;
  rank: number;
}

const bigramFirst = (a: Bigram, b: Bigram) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

/** Merge one byte-encoded word into the symbols it ends as. */
function mergeWord(vocab: Vocab, word: string): string[] {
  if (vocab.ignoreMerges && vocab.tokenToId.has(word)) return [word];
  const symbols: Symbol[] = [];
  for (const ch of word) {
    const index = symbols.length;
    symbols.push({ text: ch, n: 1, prev: index - 1, next: index + 1 });
  }
  if (symbols.length === 0) return [];
  symbols[symbols.length - 1].next = -1;

  const queue = new Heap<Bigram>(bigramFirst);
  const addBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const a = symbols[left].text;
    const b = symbols[right].text;
    const rank = vocab.bpeRanks.get(mergeKey(a, b));
    if (rank === undefined) return;
    queue.push({ left, right, text: a + b, rank });
  };
  for (let i = 1; i < symbols.length; i++) addBigram(i - 1, i);

  for (let bigram = queue.pop(); bigram; bigram = queue.pop()) {
    const left = symbols[bigram.left];
    const right = symbols[bigram.right];
    if (left.n === 0 || right.n === 0) continue;
    if (left.text + right.text !== bigram.text) continue; // outdated
    left.text = bigram.text;
    left.n += right.n;
    right.n = 0;
    right.text = "";
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    addBigram(left.prev, bigram.left);
    addBigram(bigram.left, left.next);
  }
  return symbols.filter((s) => s.n > 0).map((s) => s.text);
}

/** Tokenize raw text (no special tokens in it); appends ids to `out`. */
export function bpeTokenize(vocab: Vocab, text: string, out: number[]): void {
  for (const raw of preTokenize(text, vocab.pre!)) {
    for (const piece of mergeWord(vocab, byteEncode(raw))) {
      const id = vocab.tokenToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // llama.cpp looks each UTF-8 byte of the piece up as a one-byte token and drops bytes it cannot find.
      for (const b of utf8(piece)) {
        const byteId = b < 0x80 ? vocab.tokenToId.get(String.fromCharCode(b)) : undefined;
        if (byteId !== undefined) out.push(byteId);
      }
    }
  }
}
