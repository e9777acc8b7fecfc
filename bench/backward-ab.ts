// Backward through a frozen weight (bench/RESULTS.md): ggml autograd's OUT_PROD(W, gᵀ) vs MUL_MAT with an f32 or f16
// transposed copy. Run: [TUNEKIT_GGML=source] npx tsx bench/backward-ab.ts K,N,T
import { Context } from "../lib/engine/context.js";
import { Graph } from "../lib/engine/graph.js";
import { Ops } from "../lib/engine/ops.js";
import { getBackend } from "../lib/engine/backend.js";
import { ggml } from "../lib/engine/ffi.js";
import { GgmlType } from "../lib/gguf/ggml-types.js";
getBackend().setThreads(2);
const [K, N, T] = (process.argv[2] ?? "576,1536,1024").split(",").map(Number);
const ctx = new Context({ maxTensors: 32, graphSize: 32 });
const ops = new Ops(ctx);
const w = ctx.input(GgmlType.F32, [K, N], "w");
const wt32 = ctx.input(GgmlType.F32, [N, K], "wt32");
const wt16 = ctx.input(GgmlType.F16, [N, K], "wt16");
const g = ctx.input(GgmlType.F32, [N, T], "g");
const a = ops.outProd(w, ops.transpose(g));
const b = ops.mulMat(wt32, g);
const c = ops.mulMat(wt16, g);
const graphs = [a, b, c].map((t) => {
  const gr = Graph.build(ctx, [t], { size: 8 });
  gr.allocate();
  return gr;
});
for (const t of [w, wt32, g]) t.set(Float32Array.from({ length: t.nelements }, () => Math.random() - 0.5));
wt16.set(new Uint16Array(wt16.nelements).fill(0x3c00));
const best = [Infinity, Infinity, Infinity];
for (let i = 0; i < 12; i++)
  graphs.forEach((gr, j) => {
    const t0 = performance.now();
    gr.compute();
    best[j] = Math.min(best[j], performance.now() - t0);
  });
const gf = (ms: number) => ((2 * K * N * T) / ms / 1e6).toFixed(1);
console.log(
  `${ggml().folder.source ? "source" : "prebuilt"} K=${K} N=${N} T=${T}: OUT_PROD f32 ${best[0].toFixed(1)} ms (${gf(best[0])} GF/s) · MUL_MAT f32ᵀ ${best[1].toFixed(1)} ms (${gf(best[1])}) · MUL_MAT f16ᵀ ${best[2].toFixed(1)} ms (${gf(best[2])})`,
);
