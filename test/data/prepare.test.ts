import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { prepareDataset } from "../../lib/data/prepare.js";
import { verifyFile } from "../../lib/data/verify.js";
import { jsonl, tempDir, writeTree } from "./helpers.js";

const rows = Array.from({ length: 40 }, (_, i) => ({ preguntas: `¿Pregunta número ${i} sobre el café ☕?`, respuestas: `Respuesta ${i}: sí, señor.` }));
const read = (f: string) => readFileSync(f, "utf8");
const lines = (f: string) => read(f).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: unknown }> });

test("prepare qa: de-duplication, seeded split, identical output for the same seed, report.json", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "in.jsonl": jsonl(...rows, rows[3], rows[5]) });
    const a = await prepareDataset({ format: "qa", input: join(dir, "in.jsonl"), outDir: join(dir, "a"), evalFraction: 0.1, seed: 7 });
    assert.deepEqual(a.counts, { converted: 42, skippedBad: 0, dropped: 0, duplicates: 2, notSampled: 0, train: 36, eval: 4, augmented: 0, placeholders: 0 });
    assert.deepEqual(JSON.parse(read(join(dir, "a/report.json"))), JSON.parse(JSON.stringify(a)));
    assert.equal(lines(join(dir, "a/train.jsonl")).length, 36);
    assert.equal(lines(join(dir, "a/eval.jsonl")).length, 4);
    const all = [...lines(join(dir, "a/train.jsonl")), ...lines(join(dir, "a/eval.jsonl"))].map((r) => r.messages[0]!.content).sort();
    assert.deepEqual(all, rows.map((r) => r.preguntas).sort());
    await prepareDataset({ format: "qa", input: join(dir, "in.jsonl"), outDir: join(dir, "b"), evalFraction: 0.1, seed: 7 });
    await prepareDataset({ format: "qa", input: join(dir, "in.jsonl"), outDir: join(dir, "c"), evalFraction: 0.1, seed: 8 });
    for (const f of ["train.jsonl", "eval.jsonl", "report.json"]) assert.equal(read(join(dir, "a", f)), read(join(dir, "b", f)), f);
    assert.notEqual(read(join(dir, "a/eval.jsonl")), read(join(dir, "c/eval.jsonl")));
    assert.equal(a.lengths.train.chars.count, 36);
    const s = await prepareDataset({ format: "qa", input: join(dir, "in.jsonl"), outDir: join(dir, "s"), maxSamples: 10, seed: 7, evalFraction: 0.05 });
    assert.deepEqual([s.counts.notSampled, s.counts.train, s.counts.eval], [30, 9, 1]);
  } finally {
    cleanup();
  }
});

test("prepare: a malformed line fails naming file and line and leaves nothing (or the previous output) behind; --skip-bad counts it", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const bad = join(dir, "bad.jsonl");
    writeTree(dir, { "bad.jsonl": jsonl(rows[0], rows[1]) + '{"preguntas": "¿rota?", "respuestas": \n' + jsonl(rows[2]) });
    await assert.rejects(prepareDataset({ format: "qa", input: bad, outDir: join(dir, "fresh") }), new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:3: invalid JSON`));
    assert.equal(existsSync(join(dir, "fresh")), false);
    writeTree(dir, { "old/train.jsonl": "previous\n" });
    await assert.rejects(prepareDataset({ format: "qa", input: bad, outDir: join(dir, "old") }), /:3: invalid JSON/);
    assert.equal(read(join(dir, "old/train.jsonl")), "previous\n");
    assert.deepEqual(readdirSync(dir).sort(), ["bad.jsonl", "old"], "no temporary folders left");
    const r = await prepareDataset({ format: "qa", input: bad, outDir: join(dir, "skip"), skipBad: true, evalFraction: 0 });
    assert.equal(r.counts.skippedBad, 1);
    assert.deepEqual([r.skipped[0]!.file, r.skipped[0]!.line], [bad, 3]);
    assert.equal(r.counts.train, 3);
    assert.equal(read(join(dir, "skip/eval.jsonl")), "");
    await assert.rejects(prepareDataset({ format: "qa", input: bad, outDir: join(dir, "x"), evalFraction: 1 }), /--eval-fraction must be in \[0, 1\)/);
    await assert.rejects(prepareDataset({ format: "nada", input: bad, outDir: join(dir, "x") }), /unknown --format "nada"/);
  } finally {
    cleanup();
  }
});

test("prepare images: images copied into the folder, training split augmented per class, placeholders; the result verifies", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const img = (r: number, g: number, b: number) => sharp({ create: { width: 16, height: 12, channels: 3, background: { r, g, b } } }).png().toBuffer();
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 6; i++) files[`src/roya/r${i}.png`] = await img(200, 100 + i, 30);
    for (let i = 0; i < 4; i++) files[`src/sana/s${i}.png`] = await img(30, 150 + i, 40);
    writeTree(dir, files);
    const r = await prepareDataset({
      format: "images",
      input: join(dir, "src"),
      outDir: join(dir, "out"),
      evalFraction: 0.2,
      seed: 3,
      augment: { roya: 3, "*": 1 },
      imageQuestion: "¿Qué enfermedad tiene esta hoja?",
    });
    const train = lines(join(dir, "out/train.jsonl"));
    const evalRecs = lines(join(dir, "out/eval.jsonl"));
    assert.equal(evalRecs.length, 2);
    const royaTrain = r.classBalance!.trainAfterAugmentation.find((b) => b.label === "roya")!.count;
    const sanaTrain = r.classBalance!.trainAfterAugmentation.find((b) => b.label === "sana")!.count;
    const royaBefore = train.filter((t) => t.messages[1]!.content === "roya").length / 3;
    assert.equal(royaTrain, royaBefore * 3);
    assert.equal(r.counts.augmented, royaBefore * 2);
    assert.equal(train.length, royaTrain + sanaTrain);
    assert.deepEqual(r.classBalance!.all.map((b) => [b.label, b.count]), [["roya", 6], ["sana", 4]]);
    const paths = [...train, ...evalRecs].map((t) => (t.messages[0]!.content as Array<{ path?: string }>)[0]!.path!);
    assert.ok(paths.every((p) => p.startsWith("images/")));
    assert.ok(evalRecs.every((t) => !(t.messages[0]!.content as Array<{ path?: string }>)[0]!.path!.includes("augmented")));
    const v1 = verifyFile(join(dir, "out/train.jsonl"));
    const v2 = verifyFile(join(dir, "out/eval.jsonl"));
    assert.deepEqual([v1.errors, v2.errors, v1.valid], [0, 0, train.length]);

    writeTree(dir, { "qa.jsonl": jsonl(...rows.slice(0, 5)) });
    const p = await prepareDataset({ format: "qa", input: join(dir, "qa.jsonl"), outDir: join(dir, "ph"), placeholderSize: 224, evalFraction: 0 });
    assert.equal(p.counts.placeholders, 5);
    const rec = lines(join(dir, "ph/train.jsonl"))[0]!;
    assert.deepEqual((rec.messages[0]!.content as unknown[])[0], { type: "image", path: "images/placeholder-224.png" });
    const meta = await sharp(join(dir, "ph/images/placeholder-224.png")).metadata();
    assert.deepEqual([meta.width, meta.height], [224, 224]);
    assert.equal(verifyFile(join(dir, "ph/train.jsonl")).errors, 0);
  } finally {
    cleanup();
  }
});
