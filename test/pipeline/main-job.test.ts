// The main job end to end with tiny settings: prepare → LoRA (2 steps) → merge → quantize → evaluate →
// report; every GGUF it wrote loads in llama.cpp (node-llama-cpp), the adapter through createContext.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { runMainJob, type MainJobReport } from "../../lib/pipeline/main-job.js";
import { DEFAULT_MODEL } from "../../lib/pipeline/default-model.js";

test("the main job on the embedded default writes a report and GGUF files llama.cpp loads", async () => {
  const out = mkdtempSync(join(tmpdir(), "tunekit-main-job-"));
  const messages: string[] = [];
  const report = await runMainJob({
    out,
    trainOverrides: { maxSteps: 3, batch: 2, maxSeq: 128, evalEvery: 0, threads: 1 },
    quantTypes: ["Q8_0", "Q4_0"],
    maxTokens: 8,
    samples: 1,
    onProgress: (m) => messages.push(m),
  });

  // report.json on disk is the returned report
  const saved = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as MainJobReport;
  assert.equal(saved.kind, "tunekit-main-job");
  assert.deepEqual(saved.files, report.files);
  const md = readFileSync(join(out, "report.md"), "utf8");
  for (const f of report.files.slice(1)) assert.ok(md.includes(f.path.slice(out.length + 1)), f.path);

  // the default model is the base; data is the coffee Q&A split
  assert.equal(report.files[0].label, "base");
  assert.equal(report.files[0].path, DEFAULT_MODEL);
  assert.ok(existsSync(join(out, "data", "train.jsonl")) && existsSync(join(out, "data", "eval.jsonl")));
  assert.ok(report.data.trainRecords > 40 && report.data.evalRecords > 0);

  // training: 3 steps, eval loss before and after, and it went down on the held-out split
  const t = report.training;
  assert.equal(t.steps, 3);
  assert.ok(t.evalLossBefore !== null && t.evalLossAfter !== null);
  assert.ok(t.evalLossAfter! < t.evalLossBefore!, `${t.evalLossBefore} → ${t.evalLossAfter}`);
  assert.ok(Math.abs(t.perplexityBefore! - Math.exp(t.evalLossBefore!)) < 1e-9);

  // files: base, adapter, merged F16, Q8_0, Q4_0 — all present, all with their size
  assert.deepEqual(
    report.files.map((f) => f.label),
    ["base", "adapter", "merged F16", "Q8_0", "Q4_0"],
  );
  const bytes = Object.fromEntries(report.files.map((f) => [f.label, f.bytes]));
  assert.ok(bytes.Q4_0 < bytes.Q8_0 && bytes.Q8_0 < bytes["merged F16"]);

  // evaluation: one llama.cpp run per model file; its eval loss (NLL of the reference answers given the
  // prompts) is the trainer's eval loss recomputed by llama.cpp: base = before, merged F16 = after
  assert.deepEqual(
    report.comparison.map((r) => r.label),
    ["base", "merged F16", "Q8_0", "Q4_0"],
  );
  for (const row of report.comparison) {
    for (const k of ["nll", "perplexity", "bleu", "rouge_l", "chrf"])
      assert.ok(Number.isFinite(row.metrics[k]), `${row.label}: ${k}`);
    assert.ok(
      existsSync(join(row.evalDir, "eval.json")) && existsSync(join(row.evalDir, "predictions.jsonl")),
    );
  }
  const nll = Object.fromEntries(report.comparison.map((r) => [r.label, r.metrics.nll]));
  console.log(
    `eval loss: tunekit ${t.evalLossBefore!.toFixed(4)} → ${t.evalLossAfter!.toFixed(4)}, llama.cpp ${nll.base.toFixed(4)} → ${nll["merged F16"].toFixed(4)}`,
  );
  assert.ok(Math.abs(nll.base - t.evalLossBefore!) < 0.01, `base: llama.cpp ${nll.base}`);
  assert.ok(Math.abs(nll["merged F16"] - t.evalLossAfter!) < 0.02, `merged: llama.cpp ${nll["merged F16"]}`);
  assert.ok(Math.abs(nll.Q8_0 - nll["merged F16"]) < 0.05, `Q8_0 ${nll.Q8_0}`);
  assert.equal(report.samples.length, 1);
  assert.ok(report.samples[0].reference.length > 0);
  for (const stage of ["data", "train", "merge", "quantize", "evaluate", "total"])
    assert.equal(typeof report.seconds[stage], "number", stage);

  // every GGUF loads in llama.cpp on its own; the adapter on the base
  const llama = await getLlamaCpp();
  for (const f of report.files.filter((x) => x.label !== "adapter")) {
    const m = await llama.loadModel({ modelPath: f.path, gpuLayers: 0 });
    try {
      assert.ok(m.tokenize("café").length > 0, f.label);
    } finally {
      await m.dispose();
    }
  }
  const base = await llama.loadModel({ modelPath: DEFAULT_MODEL, gpuLayers: 0 });
  try {
    const adapter = report.files.find((f) => f.label === "adapter")!;
    const ctx = await base.createContext({
      contextSize: 128,
      lora: { adapters: [{ filePath: adapter.path }] },
    });
    await ctx.dispose();
  } finally {
    await base.dispose();
  }
});
