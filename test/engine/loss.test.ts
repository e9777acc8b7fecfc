// The masked cross-entropy of lib/engine/loss.ts against softmax and log-probabilities computed here in
// double precision.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Context, Graph, GradientState, Ops, buildBackward, markTrainable } from "../../lib/engine/index.js";
import { MaskedLossLabels, maskedCrossEntropy, vectorizedLossValue } from "../../lib/engine/loss.js";
import { rng } from "./gradcheck.js";

test("masked loss: gradient (softmax − onehot)/normaliser on target rows, exactly 0 on masked rows; nllSum", () => {
  const V = 11,
    T = 7;
  const r = rng(17);
  const logitsData = Float32Array.from({ length: V * T }, () => r() * 4);
  const targets = Int32Array.from([3, 10, -1, 0, 7, 7, 2]);
  const mask = Uint8Array.from([1, 1, 1, 0, 1, 0, 1]); // row 2 has target −1: masked too
  const on = (t: number) => mask[t] === 1 && targets[t] >= 0;
  const nTargets = Array.from({ length: T }, (_, t) => t).filter(on).length;
  // as in gradient accumulation: this micro-batch holds 4 of the 9 target tokens of the whole batch
  const normaliser = nTargets + 5;

  const pctx = new Context({ maxTensors: 8 });
  const logits = pctx.f32([V, T], "logits");
  const cctx = new Context({ maxTensors: 256, graphSize: 256, grads: true });
  const ops = new Ops(cctx);
  const loss = maskedCrossEntropy(ops, pctx, ops.scale(logits, 1));
  markTrainable([logits], loss.loss);
  pctx.allocate();
  const state = new GradientState([logits]);
  const graph = Graph.build(cctx, [loss.loss], { grads: true });
  try {
    buildBackward(graph, loss.loss, state);
    graph.allocate();
    logits.set(logitsData);
    const labels = new MaskedLossLabels(loss.labels, V);
    labels.write(loss, targets, mask, normaliser);
    graph.compute();
    const value = loss.loss.scalar();
    const grad = state.accumulators[0].f32();

    let nll = 0;
    for (let t = 0; t < T; t++) {
      const row = Array.from(logitsData.subarray(t * V, (t + 1) * V));
      const max = Math.max(...row);
      const z = row.reduce((s, x) => s + Math.exp(x - max), 0);
      for (let v = 0; v < V; v++) {
        const g = grad[t * V + v];
        if (!on(t)) {
          assert.equal(g, 0, `masked row ${t}, column ${v}: gradient ${g}`);
          continue;
        }
        const p = Math.exp(row[v] - max) / z;
        const expected = (p - (v === targets[t] ? 1 : 0)) / normaliser;
        assert.ok(
          Math.abs(g - expected) <= 1e-6 + 1e-4 * Math.abs(expected),
          `row ${t} col ${v}: ${g} vs ${expected}`,
        );
      }
      if (on(t)) nll += -(row[targets[t]] - max - Math.log(z));
    }
    const reported = MaskedLossLabels.nllSum(value, T, nTargets, normaliser, V);
    assert.ok(Math.abs(reported - nll) <= 1e-4 * nll, `nllSum ${reported} vs Σ −log p ${nll}`);

    // New targets for the next micro-batch: only what changed is rewritten, the result is the same math.
    const targets2 = Int32Array.from([4, 10, 1, 0, 7, 8, 2]);
    labels.write(loss, targets2, Uint8Array.from([1, 1, 1, 1, 1, 1, 1]), T);
    state.zero();
    graph.compute();
    let nll2 = 0;
    for (let t = 0; t < T; t++) {
      const row = Array.from(logitsData.subarray(t * V, (t + 1) * V));
      const max = Math.max(...row);
      const z = row.reduce((s, x) => s + Math.exp(x - max), 0);
      nll2 += -(row[targets2[t]] - max - Math.log(z));
    }
    const reported2 = MaskedLossLabels.nllSum(loss.loss.scalar(), T, T, T, V);
    assert.ok(Math.abs(reported2 - nll2) <= 1e-4 * nll2, `nllSum ${reported2} vs ${nll2}`);
  } finally {
    state.free();
    graph.free();
    cctx.free();
    pctx.free();
  }
});

test("masked loss on logits = W·h masks h instead: gradient Wᵀ(softmax − onehot)/normaliser, 0 on masked rows", () => {
  const V = 13,
    D = 5,
    T = 6;
  const r = rng(23);
  const wData = Float32Array.from({ length: D * V }, () => r() * 2);
  const hData = Float32Array.from({ length: D * T }, () => r() * 2);
  const targets = Int32Array.from([3, 12, 0, -1, 7, 5]);
  const mask = Uint8Array.from([1, 0, 1, 1, 1, 1]);
  const on = (t: number) => mask[t] === 1 && targets[t] >= 0;
  const nTargets = [0, 1, 2, 3, 4, 5].filter(on).length;
  const normaliser = nTargets + 2;

  const pctx = new Context({ maxTensors: 8 });
  const w = pctx.f32([D, V], "w");
  const h = pctx.f32([D, T], "h");
  const cctx = new Context({ maxTensors: 256, graphSize: 256, grads: true });
  const ops = new Ops(cctx);
  const loss = maskedCrossEntropy(ops, pctx, ops.mulMat(w, h));
  markTrainable([h], loss.loss);
  pctx.allocate();
  const state = new GradientState([h]);
  const graph = Graph.build(cctx, [loss.loss], { grads: true });
  try {
    const ops = graph.nodes().map((n) => n.op);
    // the big [V, T] product by the mask is gone: the one MUL before the matmul is on [D, T]
    const muls = graph.nodes().filter((n) => n.op === 7 && n.ne[0] === V);
    assert.equal(muls.length, 0, `no [V, T] mask product (ops ${ops.join(",")})`);
    buildBackward(graph, loss.loss, state);
    graph.allocate();
    w.set(wData);
    h.set(hData);
    new MaskedLossLabels(loss.labels, V).write(loss, targets, mask, normaliser);
    graph.compute();
    const grad = state.accumulators[0].f32();
    let nll = 0;
    for (let t = 0; t < T; t++) {
      const z = Array.from({ length: V }, (_, v) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += wData[v * D + d] * hData[t * D + d];
        return s;
      });
      const max = Math.max(...z);
      const sum = z.reduce((s, x) => s + Math.exp(x - max), 0);
      const dz = z.map((x, v) => (Math.exp(x - max) / sum - (v === targets[t] ? 1 : 0)) / normaliser);
      for (let d = 0; d < D; d++) {
        const g = grad[t * D + d];
        if (!on(t)) {
          assert.equal(g, 0, `masked row ${t}: gradient ${g}`);
          continue;
        }
        const expected = dz.reduce((s, x, v) => s + x * wData[v * D + d], 0);
        assert.ok(
          Math.abs(g - expected) <= 1e-6 + 1e-4 * Math.abs(expected),
          `h[${d},${t}]: ${g} vs ${expected}`,
        );
      }
      if (on(t)) nll += -(z[targets[t]] - max - Math.log(sum));
    }
    const reported = MaskedLossLabels.nllSum(loss.loss.scalar(), T, nTargets, normaliser, V);
    assert.ok(Math.abs(reported - nll) <= 1e-4 * nll, `nllSum ${reported} vs Σ −log p ${nll}`);
  } finally {
    state.free();
    graph.free();
    cctx.free();
    pctx.free();
  }
});

test("vectorizedLossValue: the same loss as ggml's CROSS_ENTROPY_LOSS, also for a token at p ≈ e^−150", () => {
  const V = 37,
    D = 4,
    T = 5;
  const r = rng(5);
  const wData = Float32Array.from({ length: D * V }, () => r() * 2);
  const hData = Float32Array.from({ length: D * T }, () => r() * 2);
  hData.set([40, -40, 40, -40], 2 * D); // row 2: logits spread by ~150 nats
  const targets = Int32Array.from([3, 36, 0, 5, 9]);
  const mask = Uint8Array.from([1, 1, 1, 0, 1]);
  const normaliser = 7;
  const run = (fast: boolean) => {
    const pctx = new Context({ maxTensors: 8 });
    const w = pctx.f32([D, V], "w");
    const h = pctx.f32([D, T], "h");
    const cctx = new Context({ maxTensors: 256, graphSize: 256, grads: true });
    const ops = new Ops(cctx);
    const loss = maskedCrossEntropy(ops, pctx, ops.mulMat(w, h));
    markTrainable([h], loss.loss);
    pctx.allocate();
    const state = new GradientState([h]);
    const graph = Graph.build(cctx, [loss.loss], { grads: true });
    try {
      buildBackward(graph, loss.loss, state);
      if (fast) vectorizedLossValue(ops, graph, loss);
      graph.allocate();
      w.set(wData);
      h.set(hData);
      new MaskedLossLabels(loss.labels, V).write(loss, targets, mask, normaliser);
      graph.compute();
      return { value: loss.value.scalar(), grad: state.accumulators[0].f32() };
    } finally {
      state.free();
      graph.free();
      cctx.free();
      pctx.free();
    }
  };
  const slow = run(false);
  const fast = run(true);
  assert.deepEqual(fast.grad, slow.grad, "the backward pass is untouched");
  let nll = 0;
  let worst = 0;
  for (let t = 0; t < T; t++) {
    if (!mask[t]) continue;
    const z = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += wData[v * D + d] * hData[t * D + d];
      return s;
    });
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, x) => s + Math.exp(x - max), 0));
    nll += lse - z[targets[t]];
    worst = Math.max(worst, lse - z[targets[t]]);
  }
  assert.ok(worst > 100, `row 2 has a target at −log p = ${worst}`);
  const nTargets = 4;
  for (const [name, v] of [
    ["ggml", slow.value],
    ["vectorized", fast.value],
  ] as const) {
    const reported = MaskedLossLabels.nllSum(v, T, nTargets, normaliser, V);
    assert.ok(Math.abs(reported - nll) <= 2e-5 * nll, `${name}: nllSum ${reported} vs Σ −log p ${nll}`);
  }
});
