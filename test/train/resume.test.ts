// kill -9 in the middle of a run, --resume, and the loss at the last step equals an uninterrupted run's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, skip } from "./helpers.js";

const CLI = ["--import", "tsx", "lib/cli/main.ts", "train"];
// long enough that the run is still going when the test sees the first checkpoint (step 4) and kills it: with
// 10 steps a fast machine finished in the 20 ms between two polls
const STEPS = 80;

function args(f: Awaited<ReturnType<typeof fixture>>, out: string) {
  return [
    "--model",
    f.model,
    "--data",
    f.train,
    "--out",
    join(f.dir, out),
    "--max-steps",
    String(STEPS),
    "--batch",
    "2",
    "--max-seq",
    "32",
    "--lr",
    "3e-3",
    "--save-every",
    "4",
    "--seed",
    "5",
    "--json",
  ];
}

function lossAt(run: string, step: number): number {
  const rows = readFileSync(join(run, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step: number; loss: number });
  const r = rows.find((x) => x.type === "train" && x.step === step);
  if (!r) throw new Error(`no step ${step} in ${run}`);
  return r.loss;
}

test(
  "a run killed with SIGKILL and resumed reaches the same loss as an uninterrupted run",
  { skip, timeout: 300_000 },
  async () => {
    const f = await fixture();
    const whole = spawnSync(process.execPath, [...CLI, ...args(f, "whole")], { encoding: "utf8" });
    assert.equal(whole.status, 0, whole.stderr);

    const child = spawn(process.execPath, [...CLI, ...args(f, "killed")], { stdio: "ignore" });
    const ckpt = join(f.dir, "killed", "checkpoints", "step-4", "state.json");
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (existsSync(ckpt)) {
          clearInterval(t);
          child.kill("SIGKILL");
          resolve();
        }
      }, 20);
      child.on("exit", () => {
        clearInterval(t);
        reject(new Error("the run ended before it could be killed"));
      });
    });
    await new Promise((r) => child.on("exit", r));
    assert.equal(existsSync(join(f.dir, "killed", "adapter.gguf")), false, "killed before the end");
    const resumed = spawnSync(process.execPath, [...CLI, "--resume", join(f.dir, "killed"), "--json"], {
      encoding: "utf8",
    });
    assert.equal(resumed.status, 0, resumed.stderr);
    const a = lossAt(join(f.dir, "whole"), STEPS);
    const b = lossAt(join(f.dir, "killed"), STEPS);
    console.log(`loss at step ${STEPS}: uninterrupted ${a}, killed+resumed ${b}`);
    assert.equal(b, a);
  },
);
