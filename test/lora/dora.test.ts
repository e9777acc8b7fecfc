// DoRA: gradients of the DoRA layer against central finite differences (with ‖W + s·B·A‖ held constant, as
// PEFT detaches it), the norm against a float64 computation from the dequantized base (f32 and a q8_0-held
// QLoRA base), a training run whose loss falls, the merged model in llama.cpp against tunekit's DoRA forward,
// PEFT export/import round trip, the adapter.gguf refusal, and exact resume.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Token } from "node-llama-cpp";
import { Model } from "../../lib/models/model.js";
import { LoraAdapter } from "../../lib/lora/adapter.js";
import { storedBaseMatrix } from "../../lib/lora/dora.js";
import { GradientState } from "../../lib/engine/autograd.js";
import { StepGraph } from "../../lib/train/step-graph.js";
import { frozenOptionsFor, train, type TrainLogRow } from "../../lib/train/trainer.js";
import { resolveTrainConfig } from "../../lib/train/config.js";
import { importPeft } from "../../lib/export/adapter-source.js";
import { mergeAdapter } from "../../lib/export/merge.js";
import { openGguf } from "../../lib/gguf/index.js";
import { loadModel } from "../../lib/infer/model.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import { InputError } from "../../lib/util/errors.js";
import { SeededRandom } from "../../lib/data/random.js";
import type { PackedRow } from "../../lib/data/tokenize.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";
import { fixture, skip, UNSEEN } from "../train/helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "tunekit-dora-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function rowOf(model: Model, text: string, T: number): PackedRow {
  const ids = [model.tokenizer.bos!, ...model.tokenizer.encode(text)].slice(0, T);
  const pad = T - ids.length;
  return {
    ids: [...ids, ...Array(pad).fill(0)],
    mask: [...ids.map(() => 1 as const), ...Array(pad).fill(0)],
    segments: [...ids.map(() => 1), ...Array(pad).fill(0)],
    positions: [...ids.map((_, i) => i), ...Array(pad).fill(0)],
  };
}

/** ‖W + s·B·A‖ per output row in float64 from the base as the model holds it. */
function normF64(model: Model, adapter: LoraAdapter, name: string): Float64Array {
  const l = adapter.layers.get(name)!;
  const w = storedBaseMatrix(model, name);
  const a = l.a.f32();
  const b = l.b.f32();
  const r = adapter.config.r;
  const s = adapter.scale;
  const out = new Float64Array(l.outDim);
  for (let o = 0; o < l.outDim; o++) {
    let n2 = 0;
    for (let i = 0; i < l.inDim; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += b[o * r + k] * a[k * l.inDim + i];
      const v = w[o * l.inDim + i] + s * d;
      n2 += v * v;
    }
    out[o] = Math.sqrt(n2);
  }
  return out;
}

function maxRel(x: Float32Array, y: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.abs(y[i]));
  return worst;
}

test(
  "DoRA gradients of A, B and m equal central differences with the norm held constant; the norm is detached",
  { skip },
  async () => {
    const f = await fixture();
    const model = Model.load(f.model, frozenOptionsFor("none"));
    const T = 24;
    const adapter = LoraAdapter.create(
      model,
      { r: 4, alpha: 8, targets: "/^blk\\.[0-4]\\.(attn_v|ffn_down)$/", dora: true },
      3,
    );
    const graphs: StepGraph[] = [];
    try {
      // a point away from the initialisation: B ≠ 0 and m ≠ ‖W‖, so every term of the layer matters
      const rng = new SeededRandom(11);
      for (const l of adapter.layers.values()) {
        l.b.set(Float32Array.from({ length: l.b.nelements }, () => rng.uniform(-0.2, 0.2)));
        l.dora!.m.set(l.dora!.m.f32().map((v) => v * rng.uniform(0.7, 1.3)));
      }
      adapter.refreshNorms();
      for (const name of adapter.layers.keys()) {
        const rel = maxRel(adapter.layers.get(name)!.dora!.norm.f32(), normF64(model, adapter, name));
        assert.ok(rel < 1e-5, `${name}: norm relative error ${rel}`);
      }
      const grads = new GradientState(adapter.params());
      const train = new StepGraph(model, { batch: 1, seqLen: T, grads, linear: (d) => adapter.linear(d) });
      const fwd = new StepGraph(model, { batch: 1, seqLen: T, linear: () => adapter.linear() });
      graphs.push(train, fwd);
      const row = rowOf(model, UNSEEN, T);
      const targets = row.mask.slice(1).filter((x) => x === 1).length;
      const loss = () => fwd.run([row], targets, 0).nllSum / targets;
      grads.zero();
      const l0 = train.run([row], targets, 0).nllSum / targets;
      assert.ok(Math.abs(l0 - loss()) < 1e-6, "training and forward graphs compute the same loss");

      const layer = adapter.layers.get("blk.2.attn_v")!;
      const params = adapter.params();
      let checked = 0;
      let worst = 0;
      let detachedShows = 0;
      for (const [label, t, h] of [
        ["A", layer.a, 1e-2],
        ["B", layer.b, 1e-2],
        ["m", layer.dora!.m, 1e-2],
      ] as const) {
        const g = grads.accumulators[params.findIndex((p) => p.ptr === t.ptr)].f32();
        const values = t.f32();
        // the elements with the largest gradients (well above f32 noise of the loss)
        const idx = [...g.keys()].sort((i, j) => Math.abs(g[j]) - Math.abs(g[i])).slice(0, 3);
        for (const i of idx) {
          const at = (v: number, refresh: boolean) => {
            const x = values.slice();
            x[i] = v;
            t.set(x);
            if (refresh) adapter.refreshNorms();
            return loss();
          };
          // norm held constant: the function whose gradient DoRA (and PEFT) trains with
          const fd = (at(values[i] + h, false) - at(values[i] - h, false)) / (2 * h);
          // norm recomputed: the full derivative, which a detached norm does not give for A and B
          // (m does not enter the norm: both are the same function for m)
          const full = label === "m" ? fd : (at(values[i] + h, true) - at(values[i] - h, true)) / (2 * h);
          t.set(values);
          adapter.refreshNorms();
          const err = Math.abs(fd - g[i]) / Math.max(Math.abs(g[i]), 1e-3);
          worst = Math.max(worst, err);
          if (label !== "m" && Math.abs(full - g[i]) > 10 * Math.abs(fd - g[i]) + 1e-5) detachedShows++;
          console.log(
            `# ${label}[${i}]: autograd ${g[i].toExponential(4)}, Δ (norm constant) ${fd.toExponential(4)}, Δ (norm recomputed) ${full.toExponential(4)}`,
          );
          checked++;
        }
      }
      assert.equal(checked, 9);
      assert.ok(worst < 2e-2, `worst relative gradient error ${worst}`);
      assert.ok(
        detachedShows >= 2,
        "no gradient of A or B differs from the full derivative: is the norm detached?",
      );
      grads.free();
    } finally {
      for (const g of graphs) g.free();
      adapter.free();
      model.dispose();
    }
  },
);

test(
  "DoRA on a q8_0-held base (QLoRA): the norm graph reads the base only through a matmul",
  { skip },
  async () => {
    const f = await fixture();
    const model = Model.load(f.model, frozenOptionsFor("q8_0"));
    const adapter = LoraAdapter.create(model, { r: 4, alpha: 8, targets: "all-linear", dora: true }, 5);
    try {
      const rng = new SeededRandom(2);
      for (const l of adapter.layers.values())
        l.b.set(Float32Array.from({ length: l.b.nelements }, () => rng.uniform(-0.2, 0.2)));
      adapter.refreshNorms();
      let worst = 0;
      for (const name of ["blk.0.attn_q", "blk.3.ffn_down", "blk.4.ffn_up"]) {
        const l = adapter.layers.get(name)!;
        worst = Math.max(worst, maxRel(l.dora!.norm.f32(), normF64(model, adapter, name)));
      }
      console.log(
        `# q8_0 base: norm vs float64 from the dequantized base, max relative error ${worst.toExponential(2)}`,
      );
      // MUL_MAT(W_q8_0, A) quantizes A to q8_0 for the cross term (a small part of the norm)
      assert.ok(worst < 2e-3, `${worst}`);
      const m = adapter.layers.get("blk.0.attn_q")!.dora!.m.f32();
      const w0 = normF64(model, adapter, "blk.0.attn_q");
      assert.ok(
        m.some((v, i) => v !== Math.fround(w0[i])),
        "m was initialised before B was changed, from ‖W‖",
      );
    } finally {
      adapter.free();
      model.dispose();
    }
  },
);

const cfg = (f: Awaited<ReturnType<typeof fixture>>, out: string, extra: Record<string, unknown> = {}) =>
  resolveTrainConfig(undefined, {
    model: f.model,
    data: f.train,
    evalData: f.eval,
    out: join(tmp, out),
    batch: 2,
    maxSeq: 32,
    loraR: 8,
    loraAlpha: 16,
    lr: 3e-3,
    warmup: 0,
    dora: true,
    ...extra,
  });

test(
  "a DoRA run learns; its merged model in llama.cpp equals tunekit's DoRA forward; PEFT files round-trip",
  { skip },
  async () => {
    const f = await fixture();
    const rows: TrainLogRow[] = [];
    const r = await train(cfg(f, "learn", { maxSteps: 16, evalEvery: 8 }), { onLog: (x) => rows.push(x) });
    console.log(
      `# DoRA: train loss ${rows[0].loss.toFixed(3)} → ${rows.at(-1)!.loss.toFixed(3)}; eval ${r.baseEvalLoss!.toFixed(3)} → ${r.finalEvalLoss!.toFixed(3)} nats/token`,
    );
    assert.ok(r.finalEvalLoss! < r.baseEvalLoss! / 3, `eval loss ${r.baseEvalLoss} → ${r.finalEvalLoss}`);
    assert.equal(r.adapterPath, join(r.runDir, "merged.gguf"));
    assert.equal(existsSync(join(r.runDir, "adapter.gguf")), false);
    const peftCfg = JSON.parse(readFileSync(join(r.runDir, "adapter_config.json"), "utf8"));
    assert.equal(peftCfg.use_dora, true);
    const st = readFileSync(join(r.runDir, "adapter_model.safetensors"));
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString("utf8"));
    const magKey = "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector";
    assert.deepEqual(header[magKey]?.shape, [64], magKey);

    const model = Model.load(f.model);
    const adapter = importPeft(r.runDir, model);
    const ref = await loadModel({ modelPath: r.adapterPath, contextSize: 64, precise: true, threads: 1 });
    try {
      assert.equal(adapter.config.dora, true);
      const tokens = [model.tokenizer.bos!, ...model.tokenizer.encode(UNSEEN + " Once upon a time")];
      const ours = model.logits(tokens, adapter.linear());
      const base = model.logits(tokens);
      const theirs = await ref.exclusive(() => nextTokenLogits(ref, tokens as Token[]));
      const delta = maxLogSoftmaxDelta(ours, theirs);
      const effect = maxLogSoftmaxDelta(ours, base);
      console.log(
        `# merged DoRA (llama.cpp) vs tunekit DoRA forward: max |Δ log-softmax| = ${delta.toExponential(2)} (adapter effect ${effect.toFixed(2)})`,
      );
      assert.ok(effect > 0.5, `the adapter should change the model (${effect})`);
      assert.ok(delta <= 5e-3, `${delta}`);
      // the magnitudes matter: the same A, B without m/‖·‖ give another model
      const plain = model.logits(tokens, (ops, name, w, x) => {
        const l = adapter.layers.get(name);
        const y = ops.mulMat(w, x);
        return l ? ops.add(y, ops.scale(ops.mulMat(l.b, ops.mulMat(l.a, x)), adapter.scale)) : y;
      });
      assert.ok(maxLogSoftmaxDelta(ours, plain) > 1e-2, "DoRA's magnitude has no effect");

      // merging the PEFT folder gives the trainer's merged model
      const fromPeft = join(tmp, "from-peft.gguf");
      await mergeAdapter({ model: f.model, adapter: r.runDir, out: fromPeft, type: "f32" });
      const x = openGguf(r.adapterPath);
      const y = openGguf(fromPeft);
      try {
        let worst = 0;
        for (const ti of x.tensors) {
          const fx = new Float32Array(x.tensorData(ti.name).slice().buffer);
          const fy = new Float32Array(y.tensorData(ti.name).slice().buffer);
          for (let i = 0; i < fx.length; i++) worst = Math.max(worst, Math.abs(fx[i] - fy[i]));
        }
        assert.ok(worst <= 1e-6, `trainer merge vs PEFT merge ${worst}`);
      } finally {
        x.close();
        y.close();
      }
      await assert.rejects(
        adapter.saveGguf(join(tmp, "dora.gguf"), model),
        (e: Error) => e instanceof InputError && /cannot hold DoRA/.test(e.message),
      );
    } finally {
      await ref.dispose();
      adapter.free();
      model.dispose();
    }
  },
);

test("a DoRA run resumed from a checkpoint ends at the uninterrupted run's loss", { skip }, async () => {
  const f = await fixture();
  const common = { scheduler: "constant", evalData: undefined, seed: 9 };
  const whole: TrainLogRow[] = [];
  await train(cfg(f, "whole", { ...common, maxSteps: 6 }), { onLog: (x) => whole.push(x) });
  await train(cfg(f, "split", { ...common, maxSteps: 3 }));
  const resumed: TrainLogRow[] = [];
  await train(cfg(f, "split", { ...common, maxSteps: 6 }), { onLog: (x) => resumed.push(x) }, true);
  console.log(`# loss at step 6: uninterrupted ${whole.at(-1)!.loss}, resumed ${resumed.at(-1)!.loss}`);
  assert.deepEqual(
    resumed.map((x) => x.step),
    [4, 5, 6],
  );
  assert.equal(resumed.at(-1)!.loss, whole.at(-1)!.loss);
  assert.equal(resumed[0].loss, whole[3].loss);
  await assert.rejects(
    train(cfg(f, "split", { ...common, maxSteps: 8, dora: false }), {}, true),
    (e: Error) => e instanceof InputError && /does not match/.test(e.message),
  );
});
