// Pre-tokenizers of byte-level BPE vocabularies: split text into words before merges, exactly as
// llama.cpp does for each `tokenizer.ggml.pre` value. llama.cpp runs a list of regular expressions one
// after the other; each one subdivides the pieces left by the previous one (matches and the gaps between
// them both become pieces). The GPT-2, Llama 3 and Qwen 2 expressions are implemented there by hand-written
// scanners (whose behaviour is the reference), and so they are here; the others are ordinary regexes.
import { InputError } from "../util/errors.js";
import { FLAG_LETTER, FLAG_MARK, FLAG_NUMBER, FLAG_WHITESPACE, codepoints, cptFlags } from "./unicode.js";

/** Set on every codepoint inside the piece being scanned, so "no character" (0) differs from "no category". */
const IN_RANGE = 128;
const OUT_OF_RANGE = -1;

/** Splits pieces (given as codepoint counts) of `cps` into smaller pieces. */
type Splitter = (cps: number[], pieces: number[]) => number[];

interface Scanner {
  cpt(pos: number): number;
  flags(pos: number): number;
  /** Emit the text from the previous cut up to `end` as a piece; returns its length. */
  cut(end: number): number;
}

/** Runs `scan(start, end, scanner)` over each piece, collecting the cuts it makes. */
function scanPieces(
  cps: number[],
  pieces: number[],
  scan: (start: number, end: number, s: Scanner) => void,
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of pieces) {
    const ini = start;
    const end = start + len;
    start = end;
    let prevEnd = ini;
    const s: Scanner = {
      cpt: (pos) => (pos >= ini && pos < end ? cps[pos] : OUT_OF_RANGE),
      flags: (pos) => (pos >= ini && pos < end ? cptFlags(cps[pos]) | IN_RANGE : 0),
      cut: (e) => {
        const n = e - prevEnd;
        if (n > 0) out.push(n);
        prevEnd = e;
        return n;
      },
    };
    scan(ini, end, s);
  }
  return out;
}

const CH = (c: string) => c.codePointAt(0)!;
const APOS = CH("'");
const SPACE = CH(" ");
const CR = CH("\r");
const LF = CH("\n");
const isCrLf = (c: number) => c === CR || c === LF;
const asciiLower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

/** Length of an English contraction ('s 't 'm 'd 're 've 'll) at pos, or 0. */
function contraction(s: Scanner, pos: number, end: number, caseInsensitive: boolean): number {
  if (s.cpt(pos) !== APOS || pos + 1 >= end) return 0;
  const low = caseInsensitive ? asciiLower : (c: number) => c;
  const a = low(s.cpt(pos + 1));
  if (a === CH("s") || a === CH("t") || a === CH("m") || a === CH("d")) return 2;
  if (pos + 2 < end) {
    const b = low(s.cpt(pos + 2));
    if (
      (a === CH("r") && b === CH("e")) ||
      (a === CH("v") && b === CH("e")) ||
      (a === CH("l") && b === CH("l"))
    )
      return 3;
  }
  return 0;
}

const isWs = (f: number) => (f & FLAG_WHITESPACE) !== 0;
const isL = (f: number) => (f & FLAG_LETTER) !== 0;
const isN = (f: number) => (f & FLAG_NUMBER) !== 0;
const isM = (f: number) => (f & FLAG_MARK) !== 0;

/** GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
const splitGpt2: Splitter = (cps, pieces) =>
  scanPieces(cps, pieces, (ini, end, s) => {
    for (let pos = ini; pos < end;) {
      const cpt = s.cpt(pos);
      const flags = s.flags(pos);
      const c = contraction(s, pos, end, false);
      if (c) {
        pos += s.cut(pos + c);
        continue;
      }
      let f2 = cpt === SPACE ? s.flags(pos + 1) : flags;
      if (isL(f2)) {
        pos += cpt === SPACE ? 1 : 0;
        while (isL(f2)) f2 = s.flags(++pos);
        s.cut(pos);
        continue;
      }
      if (isN(f2)) {
        pos += cpt === SPACE ? 1 : 0;
        while (isN(f2)) f2 = s.flags(++pos);
        s.cut(pos);
        continue;
      }
      if (!(isWs(f2) || isL(f2) || isN(f2)) && f2) {
        pos += cpt === SPACE ? 1 : 0;
        while (!(isWs(f2) || isL(f2) || isN(f2)) && f2) f2 = s.flags(++pos);
        s.cut(pos);
        continue;
      }
      let nWs = 0;
      while (isWs(s.flags(pos + nWs))) nWs++;
      pos = cutWhitespace(s, pos, nWs);
    }
  });

/**
 * The common tail of the GPT-2 and Llama 3 patterns, `\s+(?!\S)|\s+` (else one codepoint), for a run of
 * `nWs` whitespace codepoints at `pos`: cuts the piece and returns where scanning goes on.
 */
function cutWhitespace(s: Scanner, pos: number, nWs: number): number {
  // \s+(?!\S): leave the last space to the next piece, unless the run ends the text
  if (nWs > 1 && s.cpt(pos + nWs) !== OUT_OF_RANGE) pos += nWs - 1;
  else pos += Math.max(nWs, 1);
  s.cut(pos);
  return pos;
}

/**
 * Llama 3 / Qwen 2 / Qwen 3.5 family:
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * `maxDigits` is 3 for Llama 3 and 1 for Qwen 2; `marks` makes letter runs also take \p{M} (Qwen 3.5).
 */
function llama3Like(maxDigits: number, marks: boolean): Splitter {
  const letterish = (f: number) => isL(f) || (marks && isM(f));
  return (cps, pieces) =>
    scanPieces(cps, pieces, (ini, end, s) => {
      for (let pos = ini; pos < end;) {
        const cpt = s.cpt(pos);
        const flags = s.flags(pos);
        const c = contraction(s, pos, end, true);
        if (c) {
          pos += s.cut(pos + c);
          continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(isCrLf(cpt) || isN(flags))) {
          if (letterish(flags) || letterish(s.flags(pos + 1))) {
            pos++;
            while (letterish(s.flags(pos))) pos++;
            s.cut(pos);
            continue;
          }
        }
        // \p{N}{1,maxDigits}
        if (isN(flags)) {
          if (maxDigits === 1) {
            s.cut(++pos);
            continue;
          }
          let first = pos;
          while (isN(s.flags(pos))) {
            if (++pos - first >= maxDigits) {
              s.cut(pos);
              first = pos;
            }
          }
          s.cut(pos);
          continue;
        }
        // <space>?[^\s\p{L}\p{N}]+[\r\n]*   (the first test looks at the codepoint itself, as llama.cpp does)
        let f2 = cpt === SPACE ? s.flags(pos + 1) : flags;
        if (!(isWs(f2) || letterish(f2) || isN(f2)) && flags) {
          pos += cpt === SPACE ? 1 : 0;
          while (!(isWs(f2) || letterish(f2) || isN(f2)) && f2) f2 = s.flags(++pos);
          let c2 = s.cpt(pos);
          while (isCrLf(c2)) c2 = s.cpt(++pos);
          s.cut(pos);
          continue;
        }
        let nWs = 0;
        let lastCrLfEnd = 0;
        while (isWs(s.flags(pos + nWs))) {
          if (isCrLf(s.cpt(pos + nWs))) lastCrLfEnd = pos + nWs + 1;
          nWs++;
        }
        // \s*[\r\n]+
        if (lastCrLfEnd > 0) {
          pos = lastCrLfEnd;
          s.cut(pos);
          continue;
        }
        pos = cutWhitespace(s, pos, nWs);
      }
    });
}

/**
 * A splitter from an ordinary regular expression: matches and the gaps between them become pieces.
 * `\s` must not be used in `re` (JavaScript's \s also matches U+FEFF, llama.cpp's does not); use WS.
 */
function regexSplitter(re: RegExp): Splitter {
  const global = new RegExp(re.source, "gu");
  return (cps, pieces) => {
    const out: number[] = [];
    let start = 0;
    for (const len of pieces) {
      const chunk = cpsToString(cps, start, start + len);
      start += len;
      let last = 0; // in codepoints
      let lastUnits = 0;
      global.lastIndex = 0;
      for (const m of chunk.matchAll(global)) {
        if (m[0].length === 0) continue;
        const at = last + [...chunk.slice(lastUnits, m.index)].length;
        if (at > last) out.push(at - last);
        const n = [...m[0]].length;
        out.push(n);
        last = at + n;
        lastUnits = m.index! + m[0].length;
      }
      if (last < len) out.push(len - last);
    }
    return out;
  };
}

/** The text of cps[start, end) (built in slices: spreading a huge array would overflow the stack). */
function cpsToString(cps: number[], start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) s += String.fromCodePoint(...cps.slice(i, Math.min(end, i + 4096)));
  return s;
}

/** How llama.cpp pre-tokenizes and post-processes one `tokenizer.ggml.pre` family. */
export interface PreTokenizer {
  /** Canonical family name (llama.cpp's LLAMA_VOCAB_PRE_TYPE_*, lower case). */
  type: string;
  splitters: Splitter[];
  /** Whole words found in the vocabulary skip the merges (llama.cpp's ignore_merges). */
  ignoreMerges: boolean;
  /** Default of add_bos for this family (the GGUF key overrides it). */
  addBos: boolean;
  /** Detokenizer removes spaces before punctuation (clean_up_tokenization_spaces). */
  cleanSpaces: boolean;
}

const gpt2 = splitGpt2;
const llama3 = llama3Like(3, false);
const qwen2 = llama3Like(1, false);
const qwen35 = llama3Like(1, true);
const punctRun = regexSplitter(/[\p{P}$+<=>^~|]+/u);
const numberRun = regexSplitter(/\p{N}+/u);
const oneNumber = regexSplitter(/\p{N}/u);
const threeDigits = regexSplitter(/[0-9][0-9][0-9]/u);

interface Family {
  splitters: Splitter[];
  ignoreMerges?: boolean;
  addBos?: boolean;
  cleanSpaces?: boolean;
}

const FAMILIES: Record<string, Family> = {
  default: { splitters: [punctRun, gpt2, numberRun, threeDigits] },
  gpt2: { splitters: [gpt2] },
  llama3: { splitters: [llama3], ignoreMerges: true, addBos: true },
  qwen2: { splitters: [qwen2] },
  qwen35: { splitters: [qwen35] },
  starcoder: { splitters: [oneNumber, gpt2] },
  falcon: { splitters: [punctRun, gpt2, threeDigits] },
};

/** tokenizer.ggml.pre value -> [family, clean_spaces] (llama.cpp's table for the families supported here). */
const PRE_NAMES: Record<string, [string, boolean, Partial<Family>?]> = {
  default: ["default", true],
  llama3: ["llama3", true],
  "llama-v3": ["llama3", true],
  "llama-bpe": ["llama3", true],
  falcon3: ["llama3", true],
  "falcon-h1": ["llama3", true],
  pixtral: ["llama3", true],
  "midm-2.0": ["llama3", true],
  lfm2: ["llama3", true],
  "jina-v5-nano": ["llama3", true],
  dbrx: ["llama3", true, { ignoreMerges: false, addBos: false }],
  "smaug-bpe": ["llama3", true, { ignoreMerges: false, addBos: false }],
  falcon: ["falcon", true],
  mpt: ["gpt2", true],
  starcoder: ["starcoder", true],
  refact: ["starcoder", true],
  "command-r": ["starcoder", false],
  smollm: ["starcoder", false],
  codeshell: ["starcoder", true],
  exaone: ["starcoder", true],
  "minerva-7b": ["starcoder", true],
  mellum2: ["starcoder", true],
  "gpt-2": ["gpt2", true],
  "phi-2": ["gpt2", true],
  "jina-es": ["gpt2", true],
  "jina-de": ["gpt2", true],
  gigachat: ["gpt2", true],
  "jina-v2-es": ["gpt2", true],
  "jina-v2-de": ["gpt2", true],
  "a.x-4.0": ["gpt2", true],
  mellum: ["gpt2", true],
  "modern-bert": ["gpt2", true],
  olmo: ["gpt2", true],
  jais: ["gpt2", true],
  exaone4: ["gpt2", true],
  trillion: ["gpt2", false],
  "granite-docling": ["gpt2", false],
  qwen2: ["qwen2", false],
  "deepseek-r1-qwen": ["qwen2", false],
  kormo: ["qwen2", false],
  f2llmv2: ["qwen2", false],
  stablelm2: ["qwen2", true],
  hunyuan: ["qwen2", false],
  "solar-open": ["qwen2", false],
  megrez: ["qwen2", true],
  "grok-2": ["qwen2", false],
  qwen35: ["qwen35", false],
};

/** Names of `tokenizer.ggml.pre` this module implements. */
export const SUPPORTED_PRE_TOKENIZERS: readonly string[] = Object.keys(PRE_NAMES);

/**
 * The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value (missing -> "default", as llama.cpp
 * does with a warning). Throws InputError for a value this module does not implement.
 */
export function preTokenizerFor(pre: string | undefined): PreTokenizer {
  const name = pre === undefined || pre === "" ? "default" : pre;
  const entry = PRE_NAMES[name];
  if (!entry) {
    throw new InputError(
      `pre-tokenizer "${name}" is not supported by tunekit's tokenizer (supported: ${SUPPORTED_PRE_TOKENIZERS.join(", ")})`,
      { field: "tokenizer.ggml.pre" },
    );
  }
  const [familyName, cleanSpaces, overrides] = entry;
  const family = { ...FAMILIES[familyName], ...overrides };
  return {
    type: familyName,
    splitters: family.splitters,
    ignoreMerges: family.ignoreMerges ?? false,
    addBos: family.addBos ?? false,
    cleanSpaces,
  };
}

/** Split text into the words BPE merges run on (not yet byte-encoded). */
export function preTokenize(text: string, pre: PreTokenizer): string[] {
  const cps = codepoints(text);
  let pieces = [cps.length];
  for (const split of pre.splitters) pieces = split(cps, pieces);
  const words: string[] = [];
  let start = 0;
  for (const n of pieces) {
    words.push(cpsToString(cps, start, start + n));
    start += n;
  }
  return words;
}
