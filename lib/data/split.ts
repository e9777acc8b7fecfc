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
  /**
   * Class of each item (same order as the items): each class gives round(its count × evalFraction) items
   * to eval, so every class has the same held-out share. Items without a class are split among themselves.
   */
  labels?: ReadonlyArray<string | undefined>;
}

/**
 * Shuffles with the seed and puts round(n × evalFraction) records in eval (at least 1 when the
 * fraction is positive and there are 2 or more records). Train is shuffled; eval keeps shuffled order.
 */
export function splitTrainEval<T>(items: readonly T[], { evalFraction, seed, labels }: SplitOptions): { train: T[]; eval: T[] } {
  if (!(evalFraction >= 0 && evalFraction < 1)) throw new RangeError(`evalFraction must be in [0, 1), got ${evalFraction}`);
  if (labels) {
    if (labels.length !== items.length) throw new RangeError(`${labels.length} labels for ${items.length} items`);
    const groups = new Map<string, T[]>();
    items.forEach((it, i) => {
      const key = labels[i] === undefined ? "\u0000" : `=${labels[i]}`;
      const g = groups.get(key);
      if (g) g.push(it);
      else groups.set(key, [it]);
    });
    const train: T[] = [];
    const evalSet: T[] = [];
    for (const key of [...groups.keys()].sort()) {
      const part = splitTrainEval(groups.get(key)!, { evalFraction, seed });
      train.push(...part.train);
      evalSet.push(...part.eval);
    }
    const rng = new SeededRandom(seed ^ 0x3c6e);
    return { eval: rng.shuffle(evalSet), train: rng.shuffle(train) };
  }
  const shuffled = new SeededRandom(seed).shuffle(items);
  let nEval = Math.round(items.length * evalFraction);
  if (evalFraction > 0 && nEval === 0 && items.length >= 2) nEval = 1;
  return { eval: shuffled.slice(0, nEval), train: shuffled.slice(nEval) };
}
