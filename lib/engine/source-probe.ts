// Child-process probe of a ggml built from source (see source-build.ts): run with TUNEKIT_GGML_DIR set to the
// build's library folder. It multiplies matrices stored as f32, f16, q8_0 and q4_K (in the extra buffer types
// the build offers, where the kernels differ most from the prebuilt) and runs a backward pass, comparing with
// values computed here in JavaScript. Prints one JSON line {ok, ggml, features, error?}; a crash (an
// instruction this CPU lacks) kills only this process, which the parent reads as a failed probe.
import { GgmlType } from "../gguf/ggml-types.js";
import { getBackend } from "./backend.js";
import { Context } from "./context.js";
import { ggml } from "./ffi.js";
import { Graph } from "./graph.js";
import { Ops } from "./ops.js";
import { dequantize, quantize } from "./quant.js";
import { FrozenWeights } from "./weights.js";
import { GradientState, buildBackward, markTrainable } from "./autograd.js";

function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 1073741824 - 1;
  });
}

/** y[n, m] = Σ_k w[n, k] x[m, k] in f64 (rows of K as ggml stores them). */
function matmul(w: Float32Array, x: Float32Array, k: number, n: number, m: number): Float64Array {
  const y = new Float64Array(n * m);
  for (let j = 0; j < m; j++)
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += w[i * k + t] * x[j * k + t];
      y[j * n + i] = s;
    }
  return y;
}

function relError(got: Float32Array, want: Float64Array): number {
  let d = 0;
  let ref = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    ref = Math.max(ref, Math.abs(want[i]));
  }
  return d / ref;
}

function checkMatmuls(): void {
  const [k, n, m] = [512, 64, 40];
  const w = values(k * n, 3);
  const x = values(k * m, 5);
  // tolerances: ggml converts x to f16 for f16 weights and to q8 blocks for quantized ones
  for (const [type, tol] of [
    [GgmlType.F32, 1e-5],
    [GgmlType.F16, 2e-3],
    [GgmlType.Q8_0, 2e-2],
    [GgmlType.Q4_K, 2e-2],
  ] as const) {
    const stored = type === GgmlType.F32 ? w : dequantize(type, quantize(type, w, k), k * n);
    const want = matmul(stored, x, k, n, m);
    const frozen = new FrozenWeights({ maxWeights: 1, transposed: null, extraBuffer: "auto" });
    const ctx = new Context({ maxTensors: 4, graphSize: 8 });
    try {
      const fw = frozen.add({ name: "w", shape: [k, n], data: w, type, forwardOnly: true });
      const xt = ctx.input(GgmlType.F32, [k, m], "x");
      const y = new Ops(ctx).mulMat(fw.tensor, xt);
      const g = Graph.build(ctx, [y]);
      g.allocate();
      xt.set(x);
      g.compute();
      const err = relError(y.f32(), want);
      g.free();
      if (!(err <= tol))
        throw new Error(`${fw.type} matmul in ${fw.bufferType}: relative error ${err} > ${tol}`);
    } finally {
      ctx.free();
      frozen.free();
    }
  }
}

/** L = Σ (A·x)²: dL/dA = 2 (A·x) xᵀ, through ggml's autograd (OUT_PROD) and a gradient accumulator. */
function checkBackward(): void {
  const [k, n, m] = [64, 24, 16];
  const a = values(k * n, 7);
  const x = values(k * m, 9);
  const ctx = new Context({ maxTensors: 64, graphSize: 64, grads: true });
  const params = new Context({ maxTensors: 2 });
  try {
    const ops = new Ops(ctx);
    const at = params.f32([k, n], "a");
    params.allocate();
    at.set(a);
    const xt = ctx.input(GgmlType.F32, [k, m], "x");
    const ax = ops.mulMat(at, xt);
    const loss = ops.sum(ops.sqr(ax));
    const grads = new GradientState([at]);
    markTrainable([at], loss);
    const g = Graph.build(ctx, [loss], { size: 64, grads: true });
    buildBackward(g, loss, grads);
    g.allocate();
    xt.set(x);
    g.compute();
    const y = matmul(a, x, k, n, m); // [m][n]
    const want = new Float64Array(k * n);
    for (let i = 0; i < n; i++)
      for (let t = 0; t < k; t++) {
        let s = 0;
        for (let j = 0; j < m; j++) s += 2 * y[j * n + i] * x[j * k + t];
        want[i * k + t] = s;
      }
    const err = relError(grads.accumulators[0].f32(), want);
    g.free();
    grads.free();
    if (!(err <= 1e-4)) throw new Error(`backward: relative error ${err}`);
  } finally {
    ctx.free();
    params.free();
  }
}

try {
  const g = ggml();
  if (!g.folder.source) throw new Error("the probe must run with TUNEKIT_GGML_DIR set to a source build");
  getBackend().setThreads(2);
  checkMatmuls();
  checkBackward();
  const out = { ok: true, ggml: g.ggml_version(), features: getBackend().cpuFeatures };
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: (e as Error).message }) + "\n");
  process.exitCode = 1;
}
