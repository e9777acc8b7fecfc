// Matmul GFLOP/s of the engine per frozen-weight type, side by side with PyTorch's f32 and bf16 matmul on
// the same shape and thread count. Run: npx tsx bench/matmul.ts [--threads T] [--repeat R] [--m M --k K --n N] [--json]
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { benchMatmul, type MatmulBenchResult } from "../lib/engine/bench.js";
import { getBackend } from "../lib/engine/backend.js";

const { values: args } = parseArgs({
  options: {
    threads: { type: "string" },
    repeat: { type: "string", default: "5" },
    m: { type: "string", default: "512" },
    k: { type: "string", default: "2048" },
    n: { type: "string", default: "2048" },
    json: { type: "boolean", default: false },
  },
});
const threads = Number(args.threads ?? process.env.TUNEKIT_THREADS ?? getBackend().threads);
const repeat = Number(args.repeat);
const [m, k, n] = [Number(args.m), Number(args.k), Number(args.n)];

const PYTHON = "/usr/bin/python3";
// torch.matmul of x [M, K] by w [K, N], median of `repeat` runs after two warm-ups, per dtype.
const TORCH = `
import json, sys, time, statistics
import torch
m, k, n, threads, repeat = map(int, sys.argv[1:6])
torch.set_num_threads(threads)
out = {"version": torch.__version__}
for name, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
    x = torch.randn(m, k).to(dt); w = torch.randn(k, n).to(dt)
    times = []
    for i in range(repeat + 2):
        t0 = time.perf_counter(); torch.matmul(x, w); t = time.perf_counter() - t0
        if i >= 2: times.append(t)
    out[name] = 2 * m * n * k / statistics.median(times) / 1e9
print(json.dumps(out))
`;

function torchGflops(): { version: string; f32: number; bf16: number } | string {
  const r = spawnSync(PYTHON, ["-c", TORCH, ...[m, k, n, threads, repeat].map(String)], { encoding: "utf8" });
  if (r.error) return `${PYTHON} not runnable (${r.error.message})`;
  if (r.status !== 0) return `PyTorch unavailable (${(r.stderr || "").trim().split("\n").pop()})`;
  return JSON.parse(r.stdout) as { version: string; f32: number; bf16: number };
}

const rows: Array<{ label: string; r: MatmulBenchResult }> = [];
for (const [type, extraBuffer] of [
  ["f32", "auto"],
  ["f16", "auto"],
  ["bf16", "auto"],
  ["q8_0", "auto"],
  ["q4_0", "none"],
  ["q4_0", "auto"],
  ["q4_k", "none"],
  ["q4_k", "auto"],
] as const) {
  const r = benchMatmul({ m, k, n, type, threads, repeat, extraBuffer });
  // an "auto" row that landed in the plain buffer repeats the "none" row: skip it
  if (extraBuffer === "auto" && rows.some((x) => x.r.type === type && x.r.buffer === r.buffer)) continue;
  rows.push({ label: type, r });
}
const torch = torchGflops();

if (args.json) {
  console.log(JSON.stringify({ m, k, n, threads, repeat, tunekit: rows.map((x) => x.r), torch }));
} else {
  console.log(`matmul ${m}×${k} · ${k}×${n}, ${threads} threads, median of ${repeat}; GFLOP/s`);
  const base = typeof torch === "string" ? undefined : torch.f32;
  console.log(
    [
      "weight".padEnd(8),
      "buffer".padEnd(11),
      "tunekit".padStart(8),
      "ms".padStart(8),
      "× torch f32".padStart(12),
    ].join(" "),
  );
  for (const { label, r } of rows)
    console.log(
      [
        label.padEnd(8),
        r.buffer.padEnd(11),
        r.gflops.toFixed(1).padStart(8),
        r.ms.toFixed(1).padStart(8),
        (base ? (r.gflops / base).toFixed(2) : "—").padStart(12),
      ].join(" "),
    );
  if (typeof torch === "string") console.log(`PyTorch columns skipped: ${torch}`);
  else
    console.log(
      `PyTorch ${torch.version}: f32 ${torch.f32.toFixed(1)} · bf16 ${torch.bf16.toFixed(1)} GFLOP/s`,
    );
}
