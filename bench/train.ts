// LoRA training-step speed: tunekit (f32 base and quantized bases) against the same step in PyTorch, on the
// SmolLM2-135M shape by default. Usage: npx tsx bench/train.ts [--small] [--steps N] [--threads T]
// --small uses a 4-layer model of the same width for a quick run; --backward-copy bf16 (or f16, f32) sets the
// type of the frozen base's transposed copies (TrainConfig.backwardCopy).
import { existsSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newModelGguf } from "../lib/models/new-model.js";
import { benchTrain } from "../lib/train/bench.js";
import { BACKWARD_COPIES, type TrainConfig } from "../lib/train/config.js";

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const small = args.includes("--small");
const copyAt = args.indexOf("--backward-copy");
const backwardCopy = (copyAt >= 0 ? args[copyAt + 1] : "auto") as TrainConfig["backwardCopy"];
if (!BACKWARD_COPIES.includes(backwardCopy))
  throw new Error(`--backward-copy: one of ${BACKWARD_COPIES.join(", ")}`);
const shape = { dim: 576, layers: small ? 4 : 30, heads: 9, kvHeads: 3, ffn: 1536, vocab: 49152 };
const run = { seq: 256, batch: 4, r: 16, threads: flag("--threads", 2), steps: flag("--steps", 2) };

const dir = join(tmpdir(), "tunekit-bench");
mkdirSync(dir, { recursive: true });
const model = join(dir, `smollm2-shape-${shape.layers}l.gguf`);
if (!existsSync(model)) {
  console.error(`writing a random model of the SmolLM2-135M shape (${shape.layers} layers) to ${model} …`);
  await newModelGguf({ arch: "llama", ...shape, headDim: 64, seed: 1, out: model, type: "f32" });
}

const rows: Array<{ engine: string; base: string; tokens_per_s: number; ms_per_step: number }> = [];
for (const base of ["none", "q8_0", "q4_k"] as const) {
  const r = await benchTrain({
    model,
    seq: run.seq,
    batch: run.batch,
    loraR: run.r,
    quantizeBase: base,
    backwardCopy,
    threads: run.threads,
    steps: run.steps,
  });
  rows.push({
    engine: "tunekit",
    base: base === "none" ? "f32" : base,
    tokens_per_s: r.tokens_per_s,
    ms_per_step: r.ms_per_step,
  });
  console.error(`tunekit ${base}: ${r.tokens_per_s.toFixed(0)} tokens/s`);
}
const py = spawnSync(
  "/usr/bin/python3",
  [
    join(import.meta.dirname, "torch_lora_step.py"),
    JSON.stringify({ ...shape, kv_heads: shape.kvHeads, ...run }),
  ],
  { encoding: "utf8" },
);
if (py.status === 0) {
  const t = JSON.parse(py.stdout) as { tokens_per_s: number; ms_per_step: number; torch: string };
  rows.push({
    engine: `pytorch ${t.torch}`,
    base: "f32",
    tokens_per_s: t.tokens_per_s,
    ms_per_step: t.ms_per_step,
  });
} else
  console.error(
    `PyTorch unavailable (${py.stderr.trim().split("\n").pop()}): install Debian's python3-torch for the comparison`,
  );
const torch = rows.find((r) => r.engine.startsWith("pytorch"));
console.log(
  `LoRA step, ${shape.layers} layers × dim ${shape.dim}, vocab ${shape.vocab}, seq ${run.seq} × batch ${run.batch}, r ${run.r} all-linear, ${run.threads} threads`,
);
console.log("engine            base   tokens/s   ms/step   × PyTorch f32");
for (const r of rows)
  console.log(
    `${r.engine.padEnd(17)} ${r.base.padEnd(6)} ${r.tokens_per_s.toFixed(0).padStart(8)} ${r.ms_per_step.toFixed(0).padStart(9)}   ${torch ? (r.tokens_per_s / torch.tokens_per_s).toFixed(2) : "-"}`,
  );
