// The Tokenizer implementation over a llama.cpp vocabulary (SPM or byte-level BPE): special-token
// partitioning, the leading-space rule, BOS/EOS, and detokenization with llama.cpp's space clean-up.
import { bpeTokenize } from "./bpe.js";
import { spmTokenize } from "./spm.js";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";
import { fromUtf8, unicodeToByte, utf8, wellFormed } from "./unicode.js";
import { Attr, type Vocab } from "./vocab.js";

/** A piece of input: raw text still to tokenize, or an already recognised special token. */
type Fragment = { text: string } | { id: number };

const isCSpace = (c: string) =>
  c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";

/** A trie over the texts of the special tokens (UTF-16 code units), to find which of them occur in a text. */
interface TrieNode {
  next: Map<number, TrieNode>;
  /** Special tokens whose text ends here. */
  ids: number[];
}

const tries = new WeakMap<Vocab, TrieNode>();

function specialTrie(vocab: Vocab): TrieNode {
  let root = tries.get(vocab);
  if (!root) {
    root = { next: new Map(), ids: [] };
    for (const id of vocab.specialCache) {
      const t = vocab.texts[id];
      let node = root;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        let child = node.next.get(c);
        if (!child) node.next.set(c, (child = { next: new Map(), ids: [] }));
        node = child;
      }
      node.ids.push(id);
    }
    tries.set(vocab, root);
  }
  return root;
}

/** The special tokens whose text occurs somewhere in `text`. */
function occurringSpecials(vocab: Vocab, text: string): Set<number> {
  const root = specialTrie(vocab);
  const found = new Set<number>();
  for (let i = 0; i < text.length; i++) {
    let node = root.next.get(text.charCodeAt(i));
    for (let j = i + 1; node; j++) {
      for (const id of node.ids) found.add(id);
      if (j >= text.length) break;
      node = node.next.get(text.charCodeAt(j));
    }
  }
  return found;
}

/**
 * Split text on the texts of special tokens, longest first (llama.cpp's tokenizer_st_partition).
 * Control and unknown tokens are only recognised when `parseSpecial`; user-defined tokens always are.
 */
export function partitionSpecial(vocab: Vocab, text: string, parseSpecial: boolean): Fragment[] {
  let fragments: Fragment[] = text === "" ? [] : [{ text }];
  const occurring = occurringSpecials(vocab, text);
  if (occurring.size === 0) return fragments;
  // A token absent from the whole text cannot occur in a piece of it: only those present are tried,
  // in llama.cpp's order (longest first).
  for (const id of vocab.specialCache) {
    if (!occurring.has(id)) continue;
    const attr = vocab.attrs[id];
    if (!parseSpecial && attr & (Attr.CONTROL | Attr.UNKNOWN)) continue;
    const special = vocab.texts[id];
    const next: Fragment[] = [];
    for (const f of fragments) {
      if (!("text" in f)) {
        next.push(f);
        continue;
      }
      let rest = f.text;
      for (;;) {
        const at = rest.indexOf(special);
        if (at < 0) {
          if (rest.length > 0) next.push({ text: rest });
          break;
        }
        let left = rest.slice(0, at);
        if (attr & Attr.LSTRIP)
          while (left.length > 0 && isCSpace(left[left.length - 1])) left = left.slice(0, -1);
        if (left.length > 0) next.push({ text: left });
        next.push({ id });
        rest = rest.slice(at + special.length);
        if (attr & Attr.RSTRIP) while (rest.length > 0 && isCSpace(rest[0])) rest = rest.slice(1);
      }
    }
    fragments = next;
  }
  return fragments;
}

/** A tokenizer whose ids equal llama.cpp's (llama_tokenize / llama_detokenize) for the same vocabulary. */
export class LlamaTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos?: number;
  readonly eos?: number;
  readonly eot?: number;
  readonly pad?: number;
  readonly unk?: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly chatTemplate?: string;

  constructor(readonly vocab: Vocab) {
    this.vocabSize = vocab.texts.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.eot = vocab.eot;
    this.pad = vocab.pad;
    this.unk = vocab.unk;
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    this.chatTemplate = vocab.chatTemplate;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const v = this.vocab;
    const out: number[] = [];
    const fragments = partitionSpecial(v, wellFormed(text), options.parseSpecial ?? false);
    if (options.addBos && v.addBos && v.bos !== undefined) out.push(v.bos);
    if (v.kind === "spm") {
      let prevSpecial = true; // the first fragment gets the space prefix too
      for (const f of fragments) {
        if ("text" in f) {
          const t = (v.addSpacePrefix && prevSpecial ? " " : "") + f.text;
          spmTokenize(v, t.replaceAll(" ", "\u2581"), out);
          prevSpecial = false;
        } else {
          out.push(f.id);
          prevSpecial = true;
        }
      }
    } else {
      for (const f of fragments) {
        if ("text" in f) bpeTokenize(v, f.text, out);
        else out.push(f.id);
      }
    }
    if (options.addEos && v.addEos && v.eos !== undefined) out.push(v.eos);
    return out;
  }

  /** UTF-8 bytes of one token as llama.cpp renders it (llama_token_to_piece). */
  pieceBytes(id: number, renderSpecial = true): Uint8Array {
    const v = this.vocab;
    const attr = v.attrs[id];
    const text = v.texts[id];
    if (attr & (Attr.UNKNOWN | Attr.CONTROL)) return renderSpecial ? utf8(text) : new Uint8Array(0);
    if (attr & Attr.USER_DEFINED) return utf8(text);
    if (attr & Attr.NORMAL) {
      if (v.kind === "spm") return utf8(text.replaceAll("\u2581", " "));
      return byteDecode(text);
    }
    if (attr & Attr.BYTE) return Uint8Array.of(parseInt(text.slice(3, 5), 16));
    return new Uint8Array(0); // unused / undefined tokens render as nothing
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const v = this.vocab;
    const renderSpecial = options.renderSpecial ?? true;
    const parts: Uint8Array[] = [];
    let removeSpace = v.addSpacePrefix;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new RangeError(`token id ${id} is out of range`);
      let bytes = this.pieceBytes(id, renderSpecial);
      if (removeSpace && bytes.length > 0 && bytes[0] === 0x20) bytes = bytes.subarray(1);
      removeSpace = false;
      parts.push(bytes);
    }
    let all = Buffer.concat(parts);
    if (v.cleanSpaces) all = cleanSpaces(all);
    return fromUtf8(all);
  }

  tokenText(id: number): string {
    const t = this.vocab.texts[id];
    if (t === undefined) throw new RangeError(`token id ${id} is out of range`);
    return t;
  }

  isSpecial(id: number): boolean {
    return (this.vocab.attrs[id] & Attr.CONTROL) !== 0 || this.vocab.eogIds.has(id);
  }

  isEog(id: number): boolean {
    return this.vocab.eogIds.has(id);
  }
}

/** A GPT-2 byte-level token text back to bytes (unknown characters as llama.cpp writes them). */
function byteDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const b = unicodeToByte(ch);
    if (b !== undefined) out.push(b);
    else {
      const hex = [...utf8(ch)].map((x) => x.toString(16).padStart(2, "0")).join("");
      out.push(...utf8(`[UNK_BYTE_0x${hex}${text}]`));
    }
  }
  return Uint8Array.from(out);
}

const SP = 0x20;
const APOS = 0x27;
const code = (c: string) => c.charCodeAt(0);

/** llama.cpp's clean_up_tokenization_spaces passes, on bytes, in place (" ?" -> "?", " 's" -> "'s", …). */
function cleanSpaces(input: Uint8Array): Buffer {
  const text = Buffer.from(input);
  let total = text.length;
  // 1: drop the space before ? ! . ,
  {
    const n = total;
    total = n ? 1 : 0;
    for (let i = 1; i < n; i++) {
      const x = text[i];
      if (text[i - 1] === SP && (x === code("?") || x === code("!") || x === code(".") || x === code(",")))
        total--;
      text[total++] = x;
    }
  }
  // 2: " ' " -> "'"
  {
    const n = total;
    total = n ? 1 : 0;
    for (let i = 1; i < n; i++) {
      const x = text[i];
      if (x === APOS && i + 1 < n && text[i - 1] === SP && text[i + 1] === SP) {
        total--;
        text[++i] = 0;
      }
      text[total++] = x;
    }
  }
  // 3: " 's" " 'm" " 're" " 've" -> without the space
  {
    const n = total;
    total = n ? 1 : 0;
    for (let i = 1; i < n; i++) {
      const x = text[i];
      if (text[i - 1] === SP && x === APOS && i + 1 < n) {
        const x1 = text[i + 1];
        if (x1 === code("s") || x1 === code("m")) total--;
        else if (x1 !== code("t") && x1 !== code("d") && i + 2 < n) {
          const x2 = text[i + 2];
          if ((x1 === code("r") && x2 === code("e")) || (x1 === code("v") && x2 === code("e"))) total--;
        }
      }
      text[total++] = x;
    }
  }
  return text.subarray(0, total);
}
