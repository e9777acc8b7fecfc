// Runs every test/**/*.test.ts with Node's test runner (through tsx).
// Node 20's --test does not expand "**" globs itself, so the files are listed here.
// Usage: node scripts/run-tests.mjs [substring filter ...]
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const files = walk("test")
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
// The suite compares tunekit with llama.cpp run on node-llama-cpp's prebuilt ggml, several checks to the last
// bit, so it runs on the same prebuilt kernels even where a native build exists (a source build sums f32
// products in another order; .ci/run runs the engine tests on it separately). TUNEKIT_GGML set by the caller wins.
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], {
  stdio: "inherit",
  env: { ...process.env, TUNEKIT_GGML: process.env.TUNEKIT_GGML ?? "prebuilt" },
});
process.exit(r.status ?? 1);
