// Best-of matmul GFLOP/s per weight type (bench/RESULTS.md); run with TUNEKIT_GGML=prebuilt|source: npx tsx bench/matmul-best.ts
import { benchMatmul } from "../lib/engine/bench.js";
import { ggml } from "../lib/engine/ffi.js";
const out: string[] = [];
for (const type of ["f32", "f16", "q8_0", "q4_k"]) {
  let best = 0;
  for (let i = 0; i < 4; i++)
    best = Math.max(best, benchMatmul({ m: 512, k: 2048, n: 2048, type, threads: 2, repeat: 5 }).gflops);
  out.push(`${type} ${best.toFixed(0)}`);
}
console.log(`${ggml().folder.source ? "source" : "prebuilt"}: ${out.join(" · ")}`);
