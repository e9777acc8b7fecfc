// tunekit's f32 GEMM kernel for the source build (lib/engine/kernels/tk-sgemm.c): compiled alone and checked
// against a double-precision reference on shapes that hit every edge (partial register tiles, K blocks, the
// M and N thread splits), and its patch checked to apply to, and compile inside, the bundled ggml source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundledSource } from "../../lib/engine/source-build.js";
import { patchSources } from "../../lib/engine/source-patch.js";

const hasAvx512 = /\bavx512f\b/.test(
  existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "",
);
const hasCc = spawnSync("cc", ["--version"]).status === 0;
const skip = (!hasAvx512 && "no AVX-512F on this CPU") || (!hasCc && "no C compiler");

test("tk_sgemm_f32 equals a double-precision product on edge shapes and thread splits", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tk-sgemm-"));
  try {
    const exe = join(dir, "driver");
    const cc = spawnSync(
      "cc",
      ["-O2", "-march=native", "-o", exe, join(import.meta.dirname, "kernels", "tk-sgemm-driver.c"), "-lm"],
      { encoding: "utf8" },
    );
    assert.equal(cc.status, 0, cc.stderr);
    // M: below, at and across the 32-row tile and 256-row block; N: the 12-column tile and 2040-column block;
    // K: the 256 block; nth: M split (many row panels) and N split (few row panels, e.g. a LoRA rank of 16)
    const shapes = [
      [1, 8, 1, 1],
      [31, 13, 7, 1],
      [32, 12, 256, 2],
      [33, 25, 257, 2],
      [16, 100, 576, 2],
      [16, 5, 64, 3],
      [300, 2100, 40, 2],
      [577, 37, 600, 3],
      [64, 24, 1000, 4],
    ];
    const r = spawnSync(exe, { input: shapes.map((s) => s.join(" ")).join("\n") + "\n", encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split("\n");
    assert.equal(rows.length, shapes.length);
    for (const row of rows) {
      const [m, n, k, nth, err, outside] = row.split(" ");
      assert.equal(outside, "0", `${m}×${n}×${k} (${nth} threads) wrote outside its result`);
      // f32 accumulation of K products: relative to Σ|w·x|, a few ulps times √K
      assert.ok(Number(err) < 1e-6, `${m}×${n}×${k} (${nth} threads): relative error ${err}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the kernel patch applies to the bundled ggml source and sgemm.cpp compiles with it", { skip }, () => {
  const { bundle } = bundledSource();
  const dir = mkdtempSync(join(tmpdir(), "tk-patch-"));
  try {
    const src = join(dir, "src");
    const clone = spawnSync("git", ["clone", "-q", "--depth", "1", bundle, src], { encoding: "utf8" });
    assert.equal(clone.status, 0, clone.stderr);
    patchSources(src);
    const cpu = join(src, "ggml", "src", "ggml-cpu");
    const sgemm = readFileSync(join(cpu, "llamafile", "sgemm.cpp"), "utf8");
    assert.match(sgemm, /tk_sgemm_f32\(m, n, k,/);
    const cxx = spawnSync(
      "c++",
      [
        "-fsyntax-only",
        "-std=c++17",
        "-march=native",
        "-I",
        join(src, "ggml", "include"),
        "-I",
        join(src, "ggml", "src"),
        "-I",
        cpu,
        join(cpu, "llamafile", "sgemm.cpp"),
      ],
      { encoding: "utf8" },
    );
    assert.equal(cxx.status, 0, cxx.stderr.slice(-2000));
    assert.throws(() => patchSources(src), /already holds tunekit's kernels/, "a second patch is refused");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
