// Checkpoints: everything needed to continue a run exactly — adapter weights, AdamW moments (f32, or the
// 8-bit states' bytes as they are), step, data position — in checkpoints/step-N/, written through a
// temporary folder and renamed.
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeDirAtomically } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import type { AdamWState } from "../engine/optimizer.js";

export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  /** Micro-batches consumed in total (the data position: epoch and index follow from it). */
  microBatches: number;
  /** Target tokens trained on so far. */
  tokens: number;
  bestEvalLoss: number | null;
  evalsWithoutImprovement: number;
}

export interface Checkpoint {
  state: TrainState;
  /** Trainable tensors, in the adapter's parameter order. */
  params: Float32Array[];
  adam: AdamWState;
  evalLoss?: number;
}

function pack(arrays: Float32Array[]): Buffer {
  const total = arrays.reduce((s, a) => s + a.length, 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return Buffer.from(out.buffer);
}

function unpack(buf: Buffer, sizes: number[], file: string): Float32Array[] {
  const total = sizes.reduce((s, n) => s + n, 0);
  if (buf.length !== total * 4)
    throw new InputError(`holds ${buf.length} bytes, expected ${total * 4}`, { file });
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  let o = 0;
  return sizes.map((n) => {
    const a = all.subarray(o, o + n);
    o += n;
    return a;
  });
}

export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  await writeDirAtomically(dir, (tmp) => {
    writeFileSync(join(tmp, "params.f32"), pack(c.params));
    const moments = [...c.adam.m, ...c.adam.v];
    writeFileSync(join(tmp, `adam.${c.adam.format}`), Buffer.concat(moments));
    const meta = {
      state: c.state,
      adamStep: c.adam.step,
      adamFormat: c.adam.format,
      adamBytes: moments.map((b) => b.byteLength),
      sizes: c.params.map((p) => p.length),
      evalLoss: c.evalLoss ?? null,
    };
    writeFileSync(join(tmp, "state.json"), JSON.stringify(meta, null, 2));
  });
}

export function loadCheckpoint(dir: string, expectedSizes: number[]): Checkpoint {
  const stateFile = join(dir, "state.json");
  if (!existsSync(stateFile)) throw new InputError("not a checkpoint (no state.json)", { file: dir });
  const meta = JSON.parse(readFileSync(stateFile, "utf8")) as {
    state: TrainState;
    adamStep: number;
    adamFormat?: AdamWState["format"];
    adamBytes?: number[];
    sizes: number[];
    evalLoss: number | null;
  };
  if (meta.sizes.length !== expectedSizes.length || meta.sizes.some((n, i) => n !== expectedSizes[i]))
    throw new InputError(
      "the checkpoint's adapter does not match this configuration (rank, targets or DoRA differ)",
      { file: dir },
    );
  const params = unpack(readFileSync(join(dir, "params.f32")), meta.sizes, join(dir, "params.f32"));
  // checkpoints written before 8-bit states existed hold f32 moments sized like the parameters
  const format = meta.adamFormat ?? "f32";
  const byteSizes = meta.adamBytes ?? [...meta.sizes, ...meta.sizes].map((n) => 4 * n);
  const file = join(dir, `adam.${format}`);
  if (!existsSync(file)) throw new InputError(`the checkpoint has no adam.${format}`, { file: dir });
  const buf = readFileSync(file);
  const total = byteSizes.reduce((s, n) => s + n, 0);
  if (buf.length !== total || byteSizes.length !== 2 * meta.sizes.length)
    throw new InputError(`holds ${buf.length} bytes, expected ${total}`, { file });
  let o = 0;
  const mv = byteSizes.map((n) => {
    const b = new Uint8Array(buf.buffer.slice(buf.byteOffset + o, buf.byteOffset + o + n));
    o += n;
    return b;
  });
  const k = meta.sizes.length;
  return {
    state: meta.state,
    params,
    adam: { step: meta.adamStep, format, m: mv.slice(0, k), v: mv.slice(k) },
    evalLoss: meta.evalLoss ?? undefined,
  };
}

/** Checkpoint folders of a run, oldest first. */
export function listCheckpoints(runDir: string): Array<{ dir: string; step: number }> {
  const root = join(runDir, "checkpoints");
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => ({ dir: join(root, name), step: Number(/^step-(\d+)$/.exec(name)?.[1] ?? NaN) }))
    .filter((c) => Number.isInteger(c.step) && existsSync(join(c.dir, "state.json")))
    .sort((a, b) => a.step - b.step);
}

/** Keeps the last checkpoint and the `keepBest` best by eval loss; removes the others. */
export function pruneCheckpoints(runDir: string, keepBest: number): void {
  const all = listCheckpoints(runDir);
  if (all.length <= 1) return;
  const withLoss = all.map((c) => {
    const meta = JSON.parse(readFileSync(join(c.dir, "state.json"), "utf8")) as { evalLoss: number | null };
    return { ...c, evalLoss: meta.evalLoss };
  });
  const keep = new Set<string>([all[all.length - 1].dir]);
  withLoss
    .filter((c) => c.evalLoss !== null)
    .sort((a, b) => a.evalLoss! - b.evalLoss!)
    .slice(0, keepBest)
    .forEach((c) => keep.add(c.dir));
  for (const c of all) if (!keep.has(c.dir)) rmSync(c.dir, { recursive: true, force: true });
}
