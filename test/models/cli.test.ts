// The model commands end to end through the CLI: convert, generate and logits (with and without an adapter).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedDir } from "../../lib/util/paths.js";
import { Model } from "../../lib/models/model.js";
import { LoraAdapter } from "../../lib/lora/adapter.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "lib/cli/main.ts", ...args], { encoding: "utf8" });

test("convert → generate → logits, with an adapter, through the CLI", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "tunekit-cli-"));
  const src = join(shared!, "models", "stories260K");
  const model = join(dir, "m.gguf");
  const conv = cli(
    "convert",
    "--from",
    "llama2c",
    "--in",
    join(src, "stories260K.bin"),
    "--tokenizer",
    join(src, "tok512.model"),
    "--out",
    model,
    "--type",
    "f16",
    "--json",
  );
  assert.equal(conv.status, 0, conv.stderr);
  assert.equal(JSON.parse(conv.stdout).tensors, 47);

  const gen = cli("generate", "--model", model, "--max-tokens", "12", "--json");
  assert.equal(gen.status, 0, gen.stderr);
  const g = JSON.parse(gen.stdout) as { text: string; tokens: number[] };
  assert.match(g.text, /^Once upon a time/);
  assert.equal(g.tokens.length, 12);

  // an adapter whose B is not zero changes the logits; the CLI must apply it
  const m = Model.load(model);
  const ad = LoraAdapter.create(m, { r: 2, alpha: 4, targets: "q,v" }, 3);
  for (const l of ad.layers.values())
    l.b.set(Float32Array.from({ length: l.b.nelements }, (_, i) => Math.cos(i) * 0.1));
  const adapterPath = join(dir, "a.gguf");
  await ad.saveGguf(adapterPath, m);
  const expected = m.logits([1, 403, 407], ad.linear());
  ad.free();
  m.dispose();
  for (const extra of [[], ["--adapter", adapterPath]]) {
    const out = join(dir, `l${extra.length}.json`);
    const r = cli("logits", "--model", model, ...extra, "--tokens", "1,403,407", "--out", out, "--json");
    assert.equal(r.status, 0, r.stderr);
    const file = JSON.parse(readFileSync(out, "utf8")) as { tokens: number[]; logits: number[][] };
    assert.deepEqual(file.tokens, [1, 403, 407]);
    assert.equal(file.logits.length, 3);
    assert.equal(file.logits[0].length, 512);
    const diff = Math.max(...file.logits[2].map((v, i) => Math.abs(v - expected[2][i])));
    if (extra.length) assert.ok(diff < 1e-4, `adapter logits differ by ${diff}`);
    else assert.ok(diff > 1e-3, "without --adapter the logits must differ from the adapted ones");
  }

  const bad = cli("logits", "--model", model, "--tokens", "1,99999", "--out", join(dir, "x.json"));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /token id 99999 at position 1 is outside the vocabulary/);
});
