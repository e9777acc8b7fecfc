// The CPU engine built from the bundled source (tunekit engine build-cpu): cache keys, manifest checks, the
// crash-safe probe, and — when this machine has a build — that tunekit on it and node-llama-cpp's prebuilt
// llama.cpp work in one process (two separate libggml-base libraries) and agree on a model's logits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SOURCE_LIBRARIES,
  cpuKey,
  findSourceBuild,
  probeSourceBuild,
  sourceBuildDir,
  usableSourceBuild,
} from "../../lib/engine/source-build.js";
import { sharedDir } from "../../lib/util/paths.js";

const built = usableSourceBuild();
const noBuild = !built && "no source build on this machine (run `tunekit engine build-cpu`)";
const shared = sharedDir();

test("the cache folder is keyed by node-llama-cpp's version and this CPU", () => {
  assert.match(cpuKey(), /^[0-9a-f]{12}$/);
  assert.equal(cpuKey(), cpuKey());
  assert.match(sourceBuildDir(), new RegExp(`ggml-\\d+\\.\\d+\\.\\d+-${cpuKey()}$`));
});

test("a build whose libraries do not match its manifest is not used", () => {
  const dir = mkdtempSync(join(tmpdir(), "tunekit-fake-build-"));
  try {
    assert.equal(findSourceBuild(dir), undefined, "no manifest");
    mkdirSync(join(dir, "lib"));
    for (const name of SOURCE_LIBRARIES) writeFileSync(join(dir, "lib", name), "not a library");
    const libraries = Object.fromEntries(SOURCE_LIBRARIES.map((n) => [n, { size: 1, mtimeMs: 0 }]));
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ cpuKey: cpuKey(), libraries }));
    assert.equal(findSourceBuild(dir), undefined, "sizes differ from the manifest");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the probe reports a folder that cannot be loaded as a failure, without harming this process", () => {
  const dir = mkdtempSync(join(tmpdir(), "tunekit-fake-build-"));
  try {
    for (const name of SOURCE_LIBRARIES) writeFileSync(join(dir, name), "not a library");
    const r = probeSourceBuild(dir);
    assert.equal(r.ok, false);
    assert.ok(r.error && r.error.length > 0, JSON.stringify(r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the probe passes on this machine's build and reports its CPU features", { skip: noBuild }, () => {
  const r = probeSourceBuild(built!.libDir);
  assert.equal(r.ok, true, r.error);
  assert.equal(r.features?.LLAMAFILE, "1");
});

test(
  "tunekit on the source build and node-llama-cpp's llama.cpp in one process: separate libggml-base, same logits",
  { skip: noBuild || (!shared && "../shared is absent") },
  () => {
    const args = process.execArgv.filter(
      (a, i, all) => a.startsWith("--import") || all[i - 1] === "--import",
    );
    const r = spawnSync(process.execPath, [...args, join(import.meta.dirname, "source-build-child.ts")], {
      env: { ...process.env, TUNEKIT_GGML: "source" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `child failed (${r.signal ?? r.status}): ${r.stderr.slice(-2000)}`);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
      source: boolean;
      folder: string;
      bases: string[];
      delta: number;
      positions: number;
    };
    console.log(`source build + llama.cpp in one process: ${JSON.stringify(out)}`);
    assert.equal(out.source, true);
    assert.equal(out.folder, built!.libDir);
    assert.equal(out.bases.length, 2, `two libggml-base mapped: ${out.bases.join(", ")}`);
    assert.ok(out.bases.some((p) => p.startsWith(built!.libDir)));
    assert.ok(out.bases.some((p) => p.includes("node-llama-cpp")));
    assert.ok(out.delta <= 5e-3, `max |Δ log-softmax| ${out.delta}`);
  },
);
