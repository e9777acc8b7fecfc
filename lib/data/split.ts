// De-duplication, seeded sampling and the train/eval split. All three are deterministic: the same
// records and seed give the same result on every machine.
import { SeededRandom } from "./random.js";
import { recordKey, type SourcedRecord } from "./record.js";

/** Keeps the first of each group of identical records (same messages, tools and text, key order ignored). */
export function dedupe<T extends SourcedRecord>(items: readonly T[]): { kept: T[]; duplicates: T[] } {
  const seen = new Set<string>();
  const kept: T[] = [];
  const duplicates: T[] = [];
  for (const it of items) {
    const key = recordKey(it.record);
    if (seen.has(key)) duplicates.push(it);
    else {
      seen.add(key);
      kept.push(it);
    }
  }
  return { kept, duplicates };
}

/** A seeded random subset of `n` items, kept in their original order (as the Amazon project's 500/1,000/3,000-sample runs). */
export function sampleItems<T>(items: readonly T[], n: number, seed: number): T[] {
  if (n >= items.length) return items.slice();
  const picked = new SeededRandom(seed ^ 0x5a17).shuffle(items.map((_, i) => i)).slice(0, Math.max(0, Math.floor(n)));
  return picked.sort((a, b) => a - b).map((i) => items[i]!);
}

/** Options of {@link splitTrainEval}. */
export interface SplitOptions {
  /** Share of records for evaluation, in [0, 1). 0 gives an empty eval set. */
  evalFraction: number;
  /** Seed of the shuffle. */
  seed: number;
}

/**
 * Shuffles with the seed and puts round(n × evalFraction) records in eval (at least 1 when the
 * fraction is positive and there are 2 or more records). Train is shuffled; eval keeps shuffled order.
 */
export function splitTrainEval<T>(items: readonly T[], { evalFraction, seed }: SplitOptions): { train: T[]; eval: T[] } {
  if (!(evalFraction >= 0 && evalFraction < 1)) throw new RangeError(`evalFraction must be in [0, 1), got ${evalFraction}`);
  const shuffled = new SeededRandom(seed).shuffle(items);
  let nEval = Math.round(items.length * evalFraction);
  if (evalFraction > 0 && nEval === 0 && items.length >= 2) nEval = 1;
  return { eval: shuffled.slice(0, nEval), train: shuffled.slice(nEval) };
}
