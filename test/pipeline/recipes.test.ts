// recipes/*.json: one per seed project, each a valid training config pointing at files that exist, with
// the seed's hyperparameters; one of them (QLoRA + NEFTune) runs a couple of steps as is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveTrainConfig, type TrainConfig } from "../../lib/train/config.js";
import { train } from "../../lib/train/trainer.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

const dir = join(PACKAGE_ROOT, "recipes");
const load = (name: string): TrainConfig & { description?: string } =>
  resolveTrainConfig(join(dir, `${name}.json`), {});

test("there is one recipe per seed project and every one passes resolveTrainConfig", () => {
  const names = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.replace(/\.json$/, ""))
    .sort();
  for (const seed of ["amazon-titles", "caficulbot", "gemergency", "scix", "simple-guide"])
    assert.ok(names.includes(seed), seed);
  for (const name of names) {
    const raw = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as Record<string, unknown>;
    assert.equal(typeof raw.description, "string", `${name}: description`);
    const cfg = load(name);
    // run as is from the repository root
    for (const p of [cfg.model, cfg.data, cfg.evalData])
      assert.ok(p && existsSync(join(PACKAGE_ROOT, p)), `${name}: ${p} exists`);
  }
});

test("the recipes carry the seeds' hyperparameters", () => {
  const c = load("caficulbot");
  assert.deepEqual(
    [
      c.loraR,
      c.loraAlpha,
      c.loraDropout,
      c.target,
      c.batch,
      c.gradAccum,
      c.lr,
      c.scheduler,
      c.warmup,
      c.epochs,
      c.weightDecay,
      c.maxGradNorm,
    ],
    [32, 64, 0.03, "all-linear", 4, 8, 2e-4, "cosine", 0.05, 3, 0.05, 0.3],
  );
  const a = load("amazon-titles");
  assert.deepEqual(
    [a.loraR, a.loraAlpha, a.loraDropout, a.target, a.epochs, a.batch, a.quantizeBase],
    [8, 32, 0.1, "q,k,v,o,gate,up,down", 3, 2, "none"],
  );
  const g = load("gemergency");
  assert.deepEqual([g.loraR, g.loraAlpha, g.lr, g.neftuneAlpha, g.quantizeBase], [16, 16, 2e-4, 5, "q4_0"]);
  const s = load("simple-guide");
  assert.deepEqual([s.lr, s.keepBest, s.quantizeBase], [5e-6, 2, "q4_0"]);
  assert.ok(s.evalEvery > 0 && s.warmup > 0);
  const x = load("scix");
  assert.deepEqual(
    [x.loraR, x.loraAlpha, x.epochs, x.batch, x.gradAccum, x.lr, x.maxSeq],
    [16, 32, 3, 8, 2, 2e-4, 512],
  );
});

test("settings the trainer lacks are named in the description, not dropped", () => {
  const desc = (name: string) =>
    (JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as { description: string }).description;
  // the seeds' 8-bit AdamW is the trainer's adamw_8bit (only paging, a GPU device, is named as not applying)
  assert.match(desc("gemergency"), /paging is a GPU-memory device/);
  assert.doesNotMatch(desc("scix"), /Unsupported here:.*8-bit AdamW/);
  for (const name of ["gemergency", "scix"]) assert.equal(load(name).optim, "adamw_8bit", name);
  assert.match(desc("simple-guide"), /Unsupported here:.*paged 32-bit AdamW/);
  assert.match(desc("caficulbot"), /Unsupported here:.*vision/);
  for (const name of ["caficulbot", "gemergency", "scix", "simple-guide"])
    assert.match(desc(name), /NF4/, `${name}: the 4-bit base type is explained`);
});

test("the gemergency recipe (QLoRA q4_0 base, NEFTune) runs two steps as is", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "tunekit-recipe-")), "run");
  const cfg = resolveTrainConfig(join(dir, "gemergency.json"), { maxSteps: 2, out, threads: 1 });
  const cwd = process.cwd();
  process.chdir(PACKAGE_ROOT);
  try {
    const r = await train(cfg);
    assert.equal(r.steps, 2);
    assert.ok(Number.isFinite(r.finalLoss) && r.finalLoss > 0);
    assert.ok(existsSync(join(out, "adapter.gguf")));
  } finally {
    process.chdir(cwd);
  }
});
