// Merge and PEFT import on a real adapter: LoRA trained for a few steps on stories260K, merged, and the
// merged GGUF checked against llama.cpp running the base model with the adapter (node-llama-cpp).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Token } from "node-llama-cpp";
import { resolveTrainConfig } from "../../lib/train/config.js";
import { train } from "../../lib/train/trainer.js";
import { Model } from "../../lib/models/model.js";
import { LoraAdapter } from "../../lib/lora/adapter.js";
import { exportPeft } from "../../lib/lora/peft.js";
import { loadModel } from "../../lib/infer/model.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import { gguf, openGguf, writeGguf } from "../../lib/gguf/index.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { mergeAdapter } from "../../lib/export/merge.js";
import { importPeft } from "../../lib/export/adapter-source.js";
import { quantizeModel } from "../../lib/export/quantize.js";
import { InputError } from "../../lib/util/errors.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";
import { fixture, skip, UNSEEN } from "../train/helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "tunekit-merge-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

let trained: Promise<{ model: string; adapter: string; runDir: string }> | undefined;
function trainedAdapter() {
  trained ??= (async () => {
    const f = await fixture();
    const r = await train(
      resolveTrainConfig(undefined, {
        model: f.model,
        data: f.train,
        out: join(tmp, "run"),
        batch: 2,
        maxSeq: 32,
        loraR: 8,
        loraAlpha: 16,
        lr: 3e-3,
        warmup: 0,
        maxSteps: 12,
      }),
    );
    return { model: f.model, adapter: r.adapterPath, runDir: r.runDir };
  })();
  return trained;
}

async function llamaLogits(modelPath: string, tokens: number[], adapterPath?: string) {
  const m = await loadModel({ modelPath, adapterPath, contextSize: 64, precise: true, threads: 1 });
  try {
    return await m.exclusive(() => nextTokenLogits(m, tokens as Token[]));
  } finally {
    await m.dispose();
  }
}

test(
  "merged GGUF = base + adapter in llama.cpp; metadata kept; PEFT folder merges the same",
  { skip },
  async () => {
    const t = await trainedAdapter();
    const model = Model.load(t.model);
    const tokens = [model.tokenizer.bos!, ...model.tokenizer.encode(UNSEEN + " Once upon a time")];
    model.dispose();
    const merged = join(tmp, "merged-f32.gguf");
    const r = await mergeAdapter({ model: t.model, adapter: t.adapter, out: merged, type: "f32" });
    assert.ok(r.merged > 0 && r.merged === r.merged);
    const withAdapter = await llamaLogits(t.model, tokens, t.adapter);
    const fromMerged = await llamaLogits(merged, tokens);
    const base = await llamaLogits(t.model, tokens);
    const delta = maxLogSoftmaxDelta(withAdapter, fromMerged);
    const effect = maxLogSoftmaxDelta(withAdapter, base);
    console.log(
      `merged f32 vs base+adapter (llama.cpp): max |Δ log-softmax| = ${delta.toExponential(2)}; adapter effect ${effect.toFixed(2)}`,
    );
    assert.ok(effect > 0.5, `the adapter should change the model (effect ${effect})`);
    assert.ok(delta <= 2e-3, `${delta}`);

    const mergedF16 = join(tmp, "merged-f16.gguf");
    await mergeAdapter({ model: t.model, adapter: t.adapter, out: mergedF16, type: "f16" });
    const d16 = maxLogSoftmaxDelta(withAdapter, await llamaLogits(mergedF16, tokens));
    console.log(`merged f16 vs base+adapter: ${d16.toExponential(2)}`);
    // f16 rounding of every merged weight (relative 2⁻¹¹) on a model whose logits the adapter moved by ~15 nats
    assert.ok(d16 <= 0.1, `${d16}`);

    // every metadata entry of the base survives (general.file_type aside), every untouched tensor is identical
    const a = openGguf(t.model);
    const b = openGguf(mergedF16);
    try {
      for (const [k, v] of a.metadata)
        if (k !== "general.file_type") assert.deepEqual(b.metadata.get(k), v, k);
      assert.equal(b.get("general.file_type"), 1);
      for (const ti of a.tensors) {
        const to = b.tensor(ti.name)!;
        if (/attn_|ffn_/.test(ti.name) && ti.shape.length === 2) assert.equal(to.type, GgmlType.F16, ti.name);
        else
          assert.deepEqual(Buffer.from(b.tensorData(ti.name)), Buffer.from(a.tensorData(ti.name)), ti.name);
      }
    } finally {
      a.close();
      b.close();
    }

    // the trainer's PEFT export merges to the same bytes as its GGUF adapter
    const fromPeft = join(tmp, "merged-peft.gguf");
    await mergeAdapter({ model: t.model, adapter: t.runDir, out: fromPeft, type: "f32" });
    const x = openGguf(merged);
    const y = openGguf(fromPeft);
    try {
      for (const ti of x.tensors) {
        const p = x.tensorData(ti.name);
        const q = y.tensorData(ti.name);
        const fx = new Float32Array(p.slice().buffer);
        const fy = new Float32Array(q.slice().buffer);
        let worst = 0;
        for (let i = 0; i < fx.length; i++) worst = Math.max(worst, Math.abs(fx[i] - fy[i]));
        assert.ok(worst <= 1e-6, `${ti.name}: ${worst}`);
      }
    } finally {
      x.close();
      y.close();
    }
  },
);

test("PEFT export → import gives identical tensors (llama q/k permutation undone)", { skip }, async () => {
  const t = await trainedAdapter();
  const model = Model.load(t.model);
  const original = LoraAdapter.loadGguf(model, t.adapter);
  const dir = join(tmp, "peft");
  await exportPeft(dir, original, model, t.model);
  const back = importPeft(dir, model);
  try {
    assert.deepEqual([...back.layers.keys()], [...original.layers.keys()]);
    assert.equal(back.scale, original.scale);
    for (const [name, l] of original.layers) {
      const m = back.layers.get(name)!;
      assert.deepEqual(m.a.f32(), l.a.f32(), `${name} A`);
      assert.deepEqual(m.b.f32(), l.b.f32(), `${name} B`);
    }
    // the permutation matters: without it q's B rows differ (heads have >2 rows)
    const q = [...original.layers.values()].find((l) => l.name.endsWith("attn_q"));
    assert.ok(q, "the adapter adapts attn_q");
  } finally {
    back.free();
    original.free();
    model.dispose();
  }
});

test("merging into a quantized base dequantizes it (nothing stays 4/8-bit)", { skip }, async () => {
  const t = await trainedAdapter();
  const q8 = join(tmp, "base-q8.gguf");
  await quantizeModel({ in: t.model, out: q8, type: "Q8_0" });
  const out = join(tmp, "merged-from-q8.gguf");
  const r = await mergeAdapter({ model: q8, adapter: t.adapter, out, type: "f32" });
  assert.ok(r.dequantized > 0);
  const f = openGguf(out);
  try {
    for (const ti of f.tensors) assert.equal(ti.type, GgmlType.F32, ti.name);
    assert.equal(f.get("general.quantization_version"), undefined);
  } finally {
    f.close();
  }
  const model = Model.load(t.model);
  const tokens = [model.tokenizer.bos!, ...model.tokenizer.encode(UNSEEN)];
  model.dispose();
  // reference: llama.cpp running the dequantized Q8_0 weights (as f32) with the adapter
  const deq = join(tmp, "base-q8-dequantized.gguf");
  await quantizeModel({ in: q8, out: deq, type: "F32" });
  const d = maxLogSoftmaxDelta(await llamaLogits(deq, tokens, t.adapter), await llamaLogits(out, tokens));
  console.log(`merged into a Q8_0 base (f32 out) vs dequantized Q8_0 base + adapter: ${d.toExponential(2)}`);
  assert.ok(d <= 2e-3, `${d}`);
});

test(
  "bad merges: adapter for another architecture, adapter as model, missing files → InputError, nothing written",
  { skip },
  async () => {
    const t = await trainedAdapter();
    const a = openGguf(t.adapter);
    const other = join(tmp, "qwen-adapter.gguf");
    try {
      const metadata = new Map(a.metadata);
      metadata.set("general.architecture", gguf.str("qwen2"));
      await writeGguf(other, {
        metadata,
        tensors: a.tensors.map((ti) => ({
          name: ti.name,
          type: ti.type,
          shape: ti.shape,
          data: a.tensorData(ti.name),
        })),
      });
    } finally {
      a.close();
    }
    const out = join(tmp, "never.gguf");
    await assert.rejects(
      mergeAdapter({ model: t.model, adapter: other, out }),
      (e: Error) => e instanceof InputError && /qwen2/.test(e.message),
    );
    await assert.rejects(
      mergeAdapter({ model: t.adapter, adapter: t.adapter, out }),
      (e: Error) => e instanceof InputError && /not a base model/.test(e.message),
    );
    await assert.rejects(mergeAdapter({ model: t.model, adapter: join(tmp, "nope"), out }), InputError);
    await assert.rejects(
      mergeAdapter({ model: t.model, adapter: t.adapter, out, type: "q4" as "f16" }),
      InputError,
    );
    assert.ok(!existsSync(out));
  },
);
