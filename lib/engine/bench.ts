// Matmul throughput of the engine: y = W·x with a frozen weight W [K, N] stored in a chosen type (in a CPU
// extra buffer when the device supports it) and f32 activations x [K, M]. Used by `tunekit bench matmul`
// and bench/matmul.ts.
import { EngineError } from "../util/errors.js";
import { GgmlType, ggmlTypeFromName, ggmlTypeName } from "../gguf/ggml-types.js";
import { getBackend } from "./backend.js";
import { Context } from "./context.js";
import { Graph } from "./graph.js";
import { Ops } from "./ops.js";
import { FrozenWeights, type ExtraBufferChoice } from "./weights.js";

/** Weight types the benchmark accepts (names as on the command line). */
export const BENCH_TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k"] as const;

export interface MatmulBenchOptions {
  /** Rows of the activations (tokens). */
  m: number;
  /** Inner dimension (weight row length). */
  k: number;
  /** Outputs (weight rows). */
  n: number;
  /** Weight type name: f32, f16, bf16, q8_0, q4_0, q4_k. */
  type: string;
  /** Threads for the run (restored afterwards). Default: the backend's current count. */
  threads?: number;
  /** Timed repetitions; the median is reported. Default 10. */
  repeat?: number;
  /** Placement of the weight in CPU extra buffer types. Default "auto". */
  extraBuffer?: ExtraBufferChoice;
}

export interface MatmulBenchResult {
  m: number;
  k: number;
  n: number;
  type: string;
  threads: number;
  /** Buffer type that held the weight ("CPU", "CPU_REPACK", "AMX", …). */
  buffer: string;
  repeat: number;
  /** Median milliseconds of one matmul. */
  ms: number;
  /** 2·M·N·K / median time. */
  gflops: number;
}

function positive(name: string, v: number, max = 1 << 20): void {
  if (!Number.isSafeInteger(v) || v < 1 || v > max)
    throw new EngineError(`--${name} must be an integer from 1 to ${max}, got ${v}`);
}

/** A deterministic fill in [−1, 1) (a xorshift), fast enough for large weights. */
function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = (s >>> 0) / 2147483648 - 1;
  }
  return a;
}

/** Times W·x; the weight is converted and placed once, the activations are written before every run. */
export function benchMatmul(o: MatmulBenchOptions): MatmulBenchResult {
  positive("m", o.m);
  positive("k", o.k);
  positive("n", o.n);
  if (o.m * o.k > 1 << 28 || o.k * o.n > 1 << 28 || o.m * o.n > 1 << 28)
    throw new EngineError("matrices above 2^28 elements are not benchmarked");
  const repeat = o.repeat ?? 10;
  positive("repeat", repeat, 10000);
  if (!(BENCH_TYPES as readonly string[]).includes(o.type.toLowerCase()))
    throw new EngineError(`--type must be one of ${BENCH_TYPES.join(", ")}, got "${o.type}"`);
  const type = ggmlTypeFromName(o.type);
  const backend = getBackend();
  const before = backend.threads;
  if (o.threads !== undefined) positive("threads", o.threads, 1024);
  const frozen = new FrozenWeights({ maxWeights: 1, transposed: null, extraBuffer: o.extraBuffer ?? "auto" });
  const ctx = new Context({ maxTensors: 8, graphSize: 8 });
  let graph: Graph | undefined;
  try {
    if (o.threads !== undefined) backend.setThreads(o.threads);
    const w = frozen.add({ name: "w", shape: [o.k, o.n], data: fill(o.k * o.n, 7), type, forwardOnly: true });
    if (w.type !== type)
      throw new EngineError(
        `a ${ggmlTypeName(type)} row holds whole blocks; --k ${o.k} does not divide into them`,
      );
    const x = ctx.input(GgmlType.F32, [o.k, o.m], "x");
    const y = new Ops(ctx).mulMat(w.tensor, x);
    graph = Graph.build(ctx, [y]);
    graph.allocate();
    const xData = fill(o.k * o.m, 11);
    const times: number[] = [];
    for (let i = -2; i < repeat; i++) {
      x.set(xData); // graph inputs may be overwritten during a compute
      const t0 = performance.now();
      graph.compute();
      if (i >= 0) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const ms =
      times.length % 2
        ? times[times.length >> 1]
        : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
    return {
      m: o.m,
      k: o.k,
      n: o.n,
      type: o.type.toLowerCase(),
      threads: backend.threads,
      buffer: w.bufferType,
      repeat,
      ms,
      gflops: (2 * o.m * o.n * o.k) / (ms * 1e6),
    };
  } finally {
    graph?.free();
    ctx.free();
    frozen.free();
    if (backend.threads !== before) backend.setThreads(before);
  }
}
