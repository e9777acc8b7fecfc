// A deterministic training corpus for the test BPE vocabularies: the sample texts plus generated
// sentences in English, Spanish and Russian, with numbers and code.
import { SAMPLE_TEXTS } from "./helpers.js";

const WORDS = [
  "the", "there", "then", "them", "these", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "happy",
  "once", "upon", "time", "little", "girl", "named", "Lily", "loved", "play", "outside", "park", "The",
  "función", "canción", "niño", "año", "mañana", "dónde", "está", "biblioteca", "corazón",
  "привет", "мир", "как", "дела", "хорошо", "спасибо", "return", "function", "const", "let", "if",
  "else", "print", "x", "y", "=", "==", "!=", "{", "}", "(", ")", ";", "//", "It's", "I'm", "we'll",
]; // prettier-ignore

/** ~600 generated lines (LCG-seeded, so identical on every run) plus SAMPLE_TEXTS. */
export function testCorpus(): string[] {
  let s = 12345;
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n);
  };
  const lines: string[] = [...SAMPLE_TEXTS];
  for (let i = 0; i < 600; i++) {
    const n = 3 + rnd(10);
    const words = Array.from({ length: n }, () =>
      rnd(8) === 0 ? String(rnd(100000)) : WORDS[rnd(WORDS.length)],
    );
    lines.push(words.join(rnd(5) === 0 ? "  " : " ") + (rnd(3) === 0 ? ".\n" : rnd(2) ? ", " : "\n\t"));
  }
  return lines;
}
