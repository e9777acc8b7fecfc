import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync, existsSync } from "node:fs";
import type { Token } from "node-llama-cpp";
import { resolveTrainConfig } from "../../lib/train/config.js";
import { train } from "../../lib/train/trainer.js";
import { Model } from "../../lib/models/model.js";
import { LoraAdapter } from "../../lib/lora/adapter.js";
import { loadModel } from "../../lib/infer/model.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";
import { fixture, skip, UNSEEN } from "./helpers.js";

const base = (f: Awaited<ReturnType<typeof fixture>>, out: string, extra: Record<string, unknown> = {}) =>
  resolveTrainConfig(undefined, {
    model: f.model,
    data: f.train,
    evalData: f.eval,
    out: join(f.dir, out),
    batch: 2,
    maxSeq: 32,
    loraR: 8,
    loraAlpha: 16,
    lr: 3e-3,
    warmup: 0,
    ...extra,
  });

test(
  "LoRA on stories260K learns an unseen text; llama.cpp with the adapter gives the same distribution",
  { skip },
  async () => {
    const f = await fixture();
    const r = await train(base(f, "learn", { maxSteps: 20, evalEvery: 10 }));
    console.log(`eval loss ${r.baseEvalLoss!.toFixed(3)} → ${r.finalEvalLoss!.toFixed(3)} nats/token`);
    assert.ok(r.finalEvalLoss! < r.baseEvalLoss! / 3, `eval loss ${r.baseEvalLoss} → ${r.finalEvalLoss}`);
    for (const file of [
      "adapter.gguf",
      "adapter_config.json",
      "adapter_model.safetensors",
      "metrics.jsonl",
      "config.json",
    ])
      assert.ok(existsSync(join(r.runDir, file)), file);
    const rows = readFileSync(join(r.runDir, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const trainRow = rows.find((x) => x.type === "train");
    for (const k of ["step", "loss", "lr", "grad_norm", "tokens_per_s"])
      assert.equal(typeof trainRow[k], "number", k);

    const model = Model.load(f.model);
    const adapter = LoraAdapter.loadGguf(model, r.adapterPath);
    const ref = await loadModel({
      modelPath: f.model,
      adapterPath: r.adapterPath,
      contextSize: 64,
      precise: true,
      threads: 1,
    });
    try {
      const tokens = [model.tokenizer.bos!, ...model.tokenizer.encode(UNSEEN)];
      const ours = model.logits(tokens, adapter.linear());
      const theirs = await ref.exclusive(() => nextTokenLogits(ref, tokens as Token[]));
      const delta = maxLogSoftmaxDelta(ours, theirs);
      console.log(`trained adapter: tunekit vs llama.cpp max |Δ log-softmax| = ${delta.toExponential(2)}`);
      assert.ok(delta <= 5e-3, `${delta}`);
    } finally {
      await ref.dispose();
      adapter.free();
      model.dispose();
    }
  },
);

test("gradient accumulation 4×1 equals one batch of 4", { skip }, async () => {
  const f = await fixture();
  const common = { maxSteps: 2, evalData: undefined, maxGradNorm: 0 };
  const a = await train(base(f, "accum-a", { ...common, batch: 4, gradAccum: 1 }));
  const b = await train(base(f, "accum-b", { ...common, batch: 1, gradAccum: 4 }));
  const model = Model.load(f.model);
  try {
    const wa = LoraAdapter.loadGguf(model, a.adapterPath).snapshot();
    const wb = LoraAdapter.loadGguf(model, b.adapterPath).snapshot();
    let worst = 0;
    let scale = 0;
    wa.forEach((x, i) =>
      x.forEach(
        (v, j) => ((worst = Math.max(worst, Math.abs(v - wb[i][j]))), (scale = Math.max(scale, Math.abs(v)))),
      ),
    );
    console.log(
      `max |Δ weight| after 2 steps: ${worst.toExponential(2)} (weights up to ${scale.toFixed(3)})`,
    );
    assert.ok(worst < 1e-4 * Math.max(1, scale), `${worst}`);
    assert.ok(Math.abs(a.finalLoss - b.finalLoss) < 1e-4, `${a.finalLoss} vs ${b.finalLoss}`);
  } finally {
    model.dispose();
  }
});

test("bad configurations fail before training with a clear message", { skip }, async () => {
  const f = await fixture();
  await assert.rejects(train(base(f, "bad1", { target: "q,kk", maxSteps: 1 })), /unknown target module "kk"/);
  assert.throws(() => base(f, "bad2", { loraR: 0, maxSteps: 1 }), /loraR must be an integer ≥ 1/);
  await assert.rejects(
    train(base(f, "bad3", { data: join(f.dir, "missing.jsonl"), maxSteps: 1 })),
    /file not found/,
  );
  await assert.rejects(
    train(base(f, "bad4", { batch: 100000, maxSeq: 4096, maxSteps: 1 })),
    /GiB are free: lower batch or maxSeq/,
  );
  assert.throws(
    () => resolveTrainConfig(undefined, { model: "m", data: "d", out: "o", scheduler: "exp" }),
    /scheduler must be one of/,
  );
  assert.equal(existsSync(join(f.dir, "bad1", "adapter.gguf")), false);
});

test("QLoRA: a q8_0-held base trains through the transposed-copy backward", { skip }, async () => {
  const f = await fixture();
  const { Model: M } = await import("../../lib/models/model.js");
  const { frozenOptionsFor } = await import("../../lib/train/trainer.js");
  const { StepGraph } = await import("../../lib/train/step-graph.js");
  const { GradientState } = await import("../../lib/engine/autograd.js");
  const model = M.load(f.model, frozenOptionsFor("q8_0"));
  const adapter = LoraAdapter.create(model, { r: 4, alpha: 8, targets: "all-linear" });
  const grads = new GradientState(adapter.params());
  const g = new StepGraph(model, {
    batch: 1,
    seqLen: 16,
    grads,
    linear: (d) => adapter.linear(d),
  });
  try {
    assert.equal(model.weights.typeOf("blk.0.attn_q.weight"), 8, "q8_0");
    assert.ok(g.rewrittenBackwardNodes > 0, "the OUT_PROD→MUL_MAT rewrite ran");
  } finally {
    g.free();
    grads.free();
    adapter.free();
    model.dispose();
  }
  const r = await train(base(f, "qlora", { maxSteps: 12, evalEvery: 12, quantizeBase: "q8_0" }));
  console.log(`QLoRA q8_0: eval loss ${r.baseEvalLoss!.toFixed(3)} → ${r.finalEvalLoss!.toFixed(3)}`);
  assert.ok(r.finalEvalLoss! < r.baseEvalLoss! / 3);
});

test("full fine-tuning trains every tensor and writes a model llama.cpp agrees with", { skip }, async () => {
  const f = await fixture();
  const r = await train(base(f, "full", { method: "full", maxSteps: 10, evalEvery: 10, lr: 1e-3 }));
  console.log(`full FT: eval loss ${r.baseEvalLoss!.toFixed(3)} → ${r.finalEvalLoss!.toFixed(3)}`);
  assert.ok(r.finalEvalLoss! < r.baseEvalLoss! / 3);
  assert.ok(r.adapterPath.endsWith("model.gguf"));
  const model = Model.load(r.adapterPath);
  const ref = await loadModel({ modelPath: r.adapterPath, contextSize: 64, precise: true, threads: 1 });
  try {
    const tokens = [model.tokenizer.bos!, ...model.tokenizer.encode(UNSEEN)];
    const delta = maxLogSoftmaxDelta(
      model.logits(tokens),
      await ref.exclusive(() => nextTokenLogits(ref, tokens as Token[])),
    );
    assert.ok(delta <= 5e-3, `${delta}`);
  } finally {
    await ref.dispose();
    model.dispose();
  }
});

test("epochs are whole passes: an optimizer step never spans two epochs", { skip }, async () => {
  const f = await fixture();
  const epochs: number[] = [];
  const r = await train(base(f, "epochs", { epochs: 2, gradAccum: 3, evalData: undefined }), {
    onLog: (x) => epochs.push(x.epoch),
  });
  assert.equal(epochs.at(-1), 2, `epoch counter at the end: ${epochs.at(-1)}`);
  assert.ok(epochs.includes(1), `one step ends exactly at the first epoch: ${epochs}`);
  assert.equal(r.steps, epochs.length);
});

test(
  "--backward-copy: the frozen base's transposed copies take the chosen type and carry the same gradients",
  { skip },
  async () => {
    const f = await fixture();
    const { frozenOptionsFor } = await import("../../lib/train/trainer.js");
    const { StepGraph } = await import("../../lib/train/step-graph.js");
    const { GradientState } = await import("../../lib/engine/autograd.js");
    const { GgmlType } = await import("../../lib/gguf/ggml-types.js");
    const gradients = (copy: "f32" | "f16" | "bf16") => {
      const model = Model.load(f.model, frozenOptionsFor("none", copy));
      const adapter = LoraAdapter.create(model, { r: 4, alpha: 8, targets: "all-linear" }, 3);
      const grads = new GradientState(adapter.params());
      const g = new StepGraph(model, { batch: 1, seqLen: 16, grads, linear: (d) => adapter.linear(d) });
      try {
        const types = new Set([...model.weights.transposedMap.values()].map((t) => t.type));
        assert.deepEqual([...types], [{ f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16 }[copy]]);
        const ids = Array.from({ length: 16 }, (_, i) => (i * 37 + 5) % model.config.nVocab);
        const row = {
          ids,
          mask: ids.map(() => 1 as const),
          segments: ids.map(() => 1),
          positions: ids.map((_, i) => i),
        };
        grads.zero();
        g.run([row], 15, 0);
        return grads.accumulators.flatMap((a) => Array.from(a.f32()));
      } finally {
        g.free();
        grads.free();
        adapter.free();
        model.dispose();
      }
    };
    const exact = gradients("f32");
    const rel = (x: number[]) =>
      Math.sqrt(x.reduce((s, v, i) => s + (v - exact[i]) ** 2, 0) / exact.reduce((s, v) => s + v * v, 0));
    const [f16, bf16] = [rel(gradients("f16")), rel(gradients("bf16"))];
    console.log(
      `LoRA gradients vs exact f32 copies: f16 ${f16.toExponential(1)}, bf16 ${bf16.toExponential(1)}`,
    );
    assert.ok(f16 > 0 && f16 < 2e-3, `f16 ${f16}`);
    assert.ok(bf16 > f16 && bf16 < 2e-2, `bf16 ${bf16}`);
  },
);
