// Importance matrices as llama.cpp's tools/imatrix computes them: for every matrix of the blocks, the sum
// over calibration tokens of the squared input activation of each input column (and the token count), so
// that quantize can weight each column's rounding error by its mean x². Saved in llama.cpp's imatrix GGUF
// (general.type = imatrix, "<name>.in_sum2" [ne0, 1] and "<name>.counts" [1, 1] f32 tensors,
// imatrix.datasets / chunk_count / chunk_size) or its legacy .dat layout; both are read back.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import {
  GgufValueType,
  gguf,
  openGguf,
  writeGguf,
  type GgufMetadataValue,
  type GgufTensorToWrite,
} from "../gguf/index.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { Context } from "../engine/context.js";
import { Graph } from "../engine/graph.js";
import { Ops } from "../engine/ops.js";
import type { Tensor } from "../engine/tensor.js";
import { Model } from "../models/model.js";
import { attentionMask, buildDecoder, type LinearFn } from "../models/decoder.js";
import { writeFileAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";

/** Per-column importance of each weight matrix, as quantize uses it (mean of x² over the calibration tokens). */
export interface Imatrix {
  /** Weight tensor name ("blk.0.attn_q.weight") → one mean squared activation per input column. */
  data: Map<string, Float32Array>;
  /** Raw sums and token counts when known (GGUF files and fresh computations); legacy files have only means. */
  sums?: Map<string, { sum: Float64Array; count: number }>;
  /** Names of the calibration texts. */
  datasets: string[];
  /** Chunks the statistics were collected over, and their size in tokens (0: unknown). */
  chunkCount: number;
  chunkSize: number;
}

/** Options of {@link computeImatrix}. */
export interface ComputeImatrixOptions {
  /** Model GGUF path, or a loaded model (not disposed here). */
  model: string | Model;
  /** Calibration text. */
  text: string;
  /** Tokens per chunk, the first being BOS as llama.cpp's imatrix does. Default 512 (at most the model's context). */
  chunkTokens?: number;
  /** Use at most this many chunks. Default: all. */
  maxChunks?: number;
  /** Name recorded as the dataset. Default "text". */
  dataset?: string;
}

/** Collects the importance matrix of a model on a text with tunekit's engine. */
export function computeImatrix(o: ComputeImatrixOptions): Imatrix {
  const model = typeof o.model === "string" ? Model.load(o.model) : o.model;
  try {
    const c = model.config;
    const chunk = Math.min(o.chunkTokens ?? 512, c.nCtxTrain);
    if (!Number.isInteger(chunk) || chunk < 2)
      throw new InputError(`chunk size must be an integer ≥ 2, got ${chunk}`, { field: "chunkTokens" });
    const ids = model.tokenizer.encode(o.text);
    const per = chunk - 1;
    let nChunks = Math.floor(ids.length / per);
    if (o.maxChunks !== undefined) nChunks = Math.min(nChunks, o.maxChunks);
    if (nChunks < 1)
      throw new InputError(
        `the calibration text has ${ids.length} tokens; at least ${per} are needed for one chunk of ${chunk}`,
        { field: "text" },
      );
    const bos = model.tokenizer.bos;
    const sums = new Map<string, { sum: Float64Array; count: number }>();
    for (let k = 0; k < nChunks; k++) {
      const body = ids.slice(k * per, (k + 1) * per);
      const tokens = bos !== undefined ? [bos, ...body] : ids.slice(k * chunk, (k + 1) * chunk);
      for (const [name, x] of captureInputs(model, tokens)) {
        const [cols, rows] = [x.cols, x.rows];
        let s = sums.get(name);
        if (!s) sums.set(name, (s = { sum: new Float64Array(cols), count: 0 }));
        for (let r = 0; r < rows; r++)
          for (let j = 0; j < cols; j++) {
            const v = x.values[r * cols + j];
            s.sum[j] += v * v;
          }
        s.count += rows;
      }
    }
    const data = new Map<string, Float32Array>();
    for (const [name, s] of sums)
      data.set(
        name,
        Float32Array.from(s.sum, (v) => v / s.count),
      );
    return { data, sums, datasets: [o.dataset ?? "text"], chunkCount: nChunks, chunkSize: chunk };
  } finally {
    if (typeof o.model === "string") model.dispose();
  }
}

/** Runs the model on one sequence and returns the input of every block matrix ([rows = tokens][cols]). */
function captureInputs(
  model: Model,
  tokens: number[],
): Map<string, { values: Float32Array; rows: number; cols: number }> {
  model.checkTokens(tokens);
  const c = model.config;
  const T = tokens.length;
  const ctx = new Context({ maxTensors: 64 + c.nLayer * 100, graphSize: 256 + c.nLayer * 100 });
  try {
    const ops = new Ops(ctx);
    const captured: Array<[string, Tensor]> = [];
    const linear: LinearFn = (o, name, w, x) => {
      // like llama.cpp's imatrix without --process-output: the block matrices only
      if (name.startsWith("blk.")) captured.push([`${name}.weight`, x.isContiguous ? x : o.cont(x)]);
      return o.mulMat(w, x);
    };
    const inTokens = ctx.input(GgmlType.I32, [T], "tokens");
    const positions = ctx.input(GgmlType.I32, [T], "positions");
    const mask = ctx.input(GgmlType.F32, [T, T, 1, 1], "mask");
    const maskSwa = c.slidingWindow ? ctx.input(GgmlType.F32, [T, T, 1, 1], "mask swa") : undefined;
    const outputRows = ctx.input(GgmlType.I32, [1], "output rows");
    const { logits } = buildDecoder(
      ops,
      c,
      model.weights,
      { tokens: inTokens, positions, mask, maskSwa, seqLen: T, batch: 1, outputRows },
      linear,
    );
    const graph = Graph.build(ctx, [logits, ...captured.map(([, t]) => t)]);
    try {
      graph.allocate();
      const pos = Int32Array.from({ length: T }, (_, i) => i);
      inTokens.set(Int32Array.from(tokens));
      positions.set(pos);
      outputRows.set(Int32Array.of(T - 1));
      mask.set(attentionMask({ queryPos: pos, keyPos: pos, seqLen: T, batch: 1, nKv: T }));
      maskSwa?.set(
        attentionMask({ queryPos: pos, keyPos: pos, seqLen: T, batch: 1, nKv: T, window: c.slidingWindow }),
      );
      graph.compute();
      const out = new Map<string, { values: Float32Array; rows: number; cols: number }>();
      for (const [name, t] of captured)
        out.set(name, { values: t.f32(), cols: t.ne[0], rows: t.nelements / t.ne[0] });
      return out;
    } finally {
      graph.free();
    }
  } finally {
    ctx.free();
  }
}

/** Writes an importance matrix: llama.cpp's GGUF layout, or its legacy binary layout when `format` is "dat". */
export async function saveImatrix(
  path: string,
  m: Imatrix,
  format: "gguf" | "dat" = path.endsWith(".dat") ? "dat" : "gguf",
): Promise<void> {
  const names = [...m.data.keys()].sort();
  if (format === "dat") {
    // n_entries, then per entry: name, ncall, nval, values = mean·ncall; then chunk count and dataset
    const ncall = Math.max(1, m.chunkCount);
    const parts: Buffer[] = [int32(names.length)];
    for (const name of names) {
      const v = m.data.get(name)!;
      const nameBytes = Buffer.from(name);
      parts.push(int32(nameBytes.length), nameBytes, int32(ncall), int32(v.length));
      parts.push(Buffer.from(Float32Array.from(v, (x) => x * ncall).buffer));
    }
    const dataset = Buffer.from(m.datasets[0] ?? "");
    parts.push(int32(m.chunkCount), int32(dataset.length), dataset);
    writeFileAtomic(path, Buffer.concat(parts));
    return;
  }
  const tensors: GgufTensorToWrite[] = [];
  for (const name of names) {
    const mean = m.data.get(name)!;
    const raw = m.sums?.get(name);
    const count = raw?.count ?? Math.max(1, m.chunkCount * m.chunkSize);
    const sum = raw ? Float32Array.from(raw.sum) : Float32Array.from(mean, (x) => x * count);
    tensors.push(
      {
        name: `${name}.in_sum2`,
        type: GgmlType.F32,
        shape: [sum.length, 1],
        data: new Uint8Array(sum.buffer),
      },
      {
        name: `${name}.counts`,
        type: GgmlType.F32,
        shape: [1, 1],
        data: new Uint8Array(Float32Array.of(count).buffer),
      },
    );
  }
  await writeGguf(path, {
    metadata: new Map<string, GgufMetadataValue>([
      ["general.type", gguf.str("imatrix")],
      [
        "imatrix.datasets",
        { type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: m.datasets } },
      ],
      ["imatrix.chunk_count", gguf.u32(m.chunkCount)],
      ["imatrix.chunk_size", gguf.u32(m.chunkSize)],
    ]),
    tensors,
  });
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n, 0);
  return b;
}

/** Reads an importance matrix written by llama.cpp's llama-imatrix (GGUF or legacy .dat) or by tunekit. */
export function loadImatrix(path: string): Imatrix {
  let head: Buffer;
  try {
    head = readFileSync(path).subarray(0, 4);
  } catch {
    throw new InputError("importance matrix file not found", { file: path });
  }
  return head.toString("latin1") === "GGUF" ? loadGgufImatrix(path) : loadLegacyImatrix(path);
}

function loadGgufImatrix(path: string): Imatrix {
  const f = openGguf(path);
  try {
    if (f.getString("general.type", "") !== "imatrix")
      throw new InputError("not an importance matrix (general.type is not imatrix)", { file: path });
    const sums = new Map<string, { sum: Float64Array; count: number }>();
    const data = new Map<string, Float32Array>();
    for (const t of f.tensors) {
      if (!t.name.endsWith(".in_sum2")) continue;
      const name = t.name.slice(0, -".in_sum2".length);
      const counts = f.tensor(`${name}.counts`);
      if (!counts || t.type !== GgmlType.F32 || counts.type !== GgmlType.F32)
        throw new InputError(`${name}: in_sum2 and counts must both be f32 tensors`, { file: path });
      const sum = new Float32Array(f.tensorData(t.name).slice().buffer);
      const cnt = new Float32Array(f.tensorData(counts.name).slice().buffer);
      const ne0 = sum.length / cnt.length;
      const mean = new Float32Array(sum.length);
      for (let e = 0; e < cnt.length; e++)
        for (let i = 0; i < ne0; i++)
          mean[e * ne0 + i] = cnt[e] > 0 ? sum[e * ne0 + i] / Math.round(cnt[e]) : 1;
      data.set(name, mean);
      sums.set(name, { sum: Float64Array.from(sum), count: Math.round(cnt[0]) });
    }
    if (data.size === 0) throw new InputError("the importance matrix has no entries", { file: path });
    const ds = f.get("imatrix.datasets");
    return {
      data,
      sums,
      datasets: Array.isArray(ds) ? ds.map(String) : [],
      chunkCount: f.getNumber("imatrix.chunk_count", 0),
      chunkSize: f.getNumber("imatrix.chunk_size", 0),
    };
  } finally {
    f.close();
  }
}

function loadLegacyImatrix(path: string): Imatrix {
  const b = readFileSync(path);
  let at = 0;
  const bad = (why: string) =>
    new InputError(`not a llama.cpp importance matrix (.dat): ${why}`, { file: path });
  const i32 = () => {
    if (at + 4 > b.length) throw bad("truncated");
    const v = b.readInt32LE(at);
    at += 4;
    return v;
  };
  const n = i32();
  if (n < 1 || n > 1 << 20) throw bad(`${n} entries`);
  const data = new Map<string, Float32Array>();
  for (let e = 0; e < n; e++) {
    const len = i32();
    if (len < 1 || len > 4096 || at + len > b.length) throw bad(`entry ${e} has a bad name length`);
    const name = b.toString("utf8", at, at + len);
    at += len;
    const ncall = i32();
    const nval = i32();
    if (nval < 1 || at + nval * 4 > b.length) throw bad(`entry ${name} has ${nval} values`);
    const v = new Float32Array(nval);
    for (let i = 0; i < nval; i++) v[i] = b.readFloatLE(at + i * 4) / (ncall > 0 ? ncall : 1);
    at += nval * 4;
    data.set(name, v);
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (at + 4 <= b.length) {
    chunkCount = i32();
    if (at + 4 <= b.length) {
      const len = i32();
      if (len > 0 && at + len <= b.length) datasets.push(b.toString("utf8", at, at + len));
    }
  }
  return { data, datasets: datasets.length ? datasets : [basename(path)], chunkCount, chunkSize: 0 };
}
