// Unicode facts the llama.cpp tokenizers rely on: per-codepoint category flags (letter, number, mark,
// punctuation, symbol, whitespace), UTF-8 helpers and GPT-2's byte <-> printable-character mapping.
// The categories come from the JavaScript engine's Unicode tables (\p{…} property escapes), which agree
// with llama.cpp's generated tables except for characters assigned in newer Unicode versions.

export const FLAG_LETTER = 1;
export const FLAG_NUMBER = 2;
export const FLAG_MARK = 4;
export const FLAG_PUNCT = 8;
export const FLAG_SYMBOL = 16;
export const FLAG_WHITESPACE = 32;
const FLAG_COMPUTED = 64;

const RE_LETTER = /\p{L}/u;
const RE_NUMBER = /\p{N}/u;
const RE_MARK = /\p{M}/u;
const RE_PUNCT = /\p{P}/u;
const RE_SYMBOL = /\p{S}/u;
// Unicode White_Space is exactly llama.cpp's whitespace set (it is generated from the same property).
const RE_WHITESPACE = /\p{White_Space}/u;

const MAX_CODEPOINT = 0x110000;
let cache: Uint8Array | undefined;

/** Category flags of a codepoint (FLAG_* bits); memoised, computed on first use. */
export function cptFlags(cp: number): number {
  if (cp < 0 || cp >= MAX_CODEPOINT) return 0;
  cache ??= new Uint8Array(MAX_CODEPOINT);
  const cached = cache[cp];
  if (cached !== 0) return cached & ~FLAG_COMPUTED;
  const ch = String.fromCodePoint(cp);
  let f = 0;
  if (RE_LETTER.test(ch)) f |= FLAG_LETTER;
  else if (RE_NUMBER.test(ch)) f |= FLAG_NUMBER;
  else if (RE_MARK.test(ch)) f |= FLAG_MARK;
  else if (RE_PUNCT.test(ch)) f |= FLAG_PUNCT;
  else if (RE_SYMBOL.test(ch)) f |= FLAG_SYMBOL;
  if (RE_WHITESPACE.test(ch)) f |= FLAG_WHITESPACE;
  cache[cp] = f | FLAG_COMPUTED;
  return f;
}

/** Codepoints of a string (lone surrogates become U+FFFD, as UTF-8 encoding would make them). */
export function codepoints(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out.push(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
  }
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** UTF-8 bytes to a string; invalid sequences become U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Byte length of a string in UTF-8. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/**
 * Replace lone surrogates by U+FFFD, the way a JavaScript string becomes UTF-8 when it is handed to
 * llama.cpp (so both sides see the same text).
 */
export function wellFormed(text: string): string {
  // String.prototype.toWellFormed is Node 20+; keep a fallback for older engines.
  const f = (text as unknown as { toWellFormed?: () => string }).toWellFormed;
  return f ? f.call(text) : fromUtf8(utf8(text));
}

let byteToChar: string[] | undefined;
let charToByte: Map<string, number> | undefined;

function buildByteMaps(): void {
  // GPT-2's reversible mapping: printable Latin-1 bytes map to themselves, the other 68 bytes map to
  // U+0100 upwards in byte order.
  const map: string[] = new Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++)
    map[b] = printable(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  byteToChar = map;
  charToByte = new Map(map.map((c, b) => [c, b]));
}

/** The printable character GPT-2's byte-level BPE uses for a byte. */
export function byteToUnicode(byte: number): string {
  if (!byteToChar) buildByteMaps();
  return byteToChar![byte];
}

/** The byte a GPT-2 byte-level character stands for, or undefined for any other character. */
export function unicodeToByte(ch: string): number | undefined {
  if (!charToByte) buildByteMaps();
  return charToByte!.get(ch);
}

/** A string's UTF-8 bytes written with GPT-2's byte characters. */
export function byteEncode(text: string): string {
  let out = "";
  for (const b of utf8(text)) out += byteToUnicode(b);
  return out;
}
