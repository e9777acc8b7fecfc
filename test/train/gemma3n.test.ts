// LoRA training through the whole Gemma 3n graph (AltUp, Laurel, per-layer embeddings, gaussian top-k, all in
// f32 with differentiable ops): gradients stay finite and a few AdamW steps lower the loss on a text the
// random model has never seen; the trained adapter changes the logits, and llama.cpp applies it identically.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveTrainConfig } from "../../lib/train/config.js";
import { train, type TrainLogRow } from "../../lib/train/trainer.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { Model } from "../../lib/models/model.js";
import { LoraAdapter } from "../../lib/lora/adapter.js";
import { loadModel } from "../../lib/infer/model.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";
import type { Token } from "node-llama-cpp";
import { skip, UNSEEN } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-gemma3n-train-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("gemma3n: LoRA gradients are finite and AdamW steps lower the loss", { skip }, async () => {
  const modelPath = join(dir, "gemma3n.gguf");
  await newModelGguf({ arch: "gemma3n", seed: 3, vocab: 4096, out: modelPath });
  const data = join(dir, "train.jsonl");
  writeFileSync(data, Array.from({ length: 4 }, () => JSON.stringify({ text: UNSEEN }) + "\n").join(""));
  const rows: TrainLogRow[] = [];
  const r = await train(
    resolveTrainConfig(undefined, {
      model: modelPath,
      data,
      evalData: data,
      out: join(dir, "run"),
      batch: 2,
      maxSeq: 24,
      loraR: 4,
      loraAlpha: 8,
      lr: 1e-2,
      warmup: 0,
      maxSteps: 6,
      evalEvery: 6,
    }),
    { onLog: (row) => rows.push(row) },
  );
  console.log(
    `# gemma3n LoRA: loss ${rows.map((x) => x.loss.toFixed(3)).join(" → ")}; grad norms ${rows.map((x) => x.grad_norm.toExponential(1)).join(", ")}`,
  );
  console.log(`# eval loss ${r.baseEvalLoss!.toFixed(3)} → ${r.finalEvalLoss!.toFixed(3)} nats/token`);
  assert.equal(rows.length, 6);
  for (const row of rows) {
    assert.ok(Number.isFinite(row.loss), `step ${row.step}: loss ${row.loss}`);
    assert.ok(
      Number.isFinite(row.grad_norm) && row.grad_norm > 0,
      `step ${row.step}: grad norm ${row.grad_norm}`,
    );
  }
  assert.ok(r.finalEvalLoss! < r.baseEvalLoss! - 0.5, `eval loss ${r.baseEvalLoss} → ${r.finalEvalLoss}`);

  // the adapter goes through the LinearFn hook of the gemma3n graph at inference too
  const model = Model.load(modelPath);
  const adapter = LoraAdapter.loadGguf(model, r.adapterPath);
  try {
    const tokens = [model.tokenizer.bos!, ...model.tokenizer.encode(UNSEEN)].slice(0, 16);
    const plain = model.logits(tokens);
    const tuned = model.logits(tokens, adapter.linear());
    let moved = 0;
    for (let t = 0; t < tokens.length; t++)
      for (let i = 0; i < plain[t].length; i++) moved = Math.max(moved, Math.abs(plain[t][i] - tuned[t][i]));
    assert.ok(moved > 0.1, `the adapter moves logits by only ${moved}`);
    // llama.cpp applies the exported adapter to the same layers
    const ref = await loadModel({
      modelPath,
      adapterPath: r.adapterPath,
      contextSize: 64,
      precise: true,
      threads: 1,
    });
    try {
      const theirs = await ref.exclusive(() => nextTokenLogits(ref, tokens as Token[]));
      const delta = maxLogSoftmaxDelta(tuned, theirs);
      console.log(`# trained adapter: tunekit vs llama.cpp max |Δ log-softmax| = ${delta.toExponential(2)}`);
      assert.ok(delta <= 5e-3, `${delta}`);
    } finally {
      await ref.dispose();
    }
  } finally {
    adapter.free();
    model.dispose();
  }
});
