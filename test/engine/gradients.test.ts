import { test } from "node:test";
import assert from "node:assert/strict";
import { Ops, RopeMode, Tensor } from "../../lib/engine/index.js";
import { hasPackedF32Gemm } from "../../lib/engine/backward-rewrite.js";
import { gradCheck, randomArray } from "./gradcheck.js";

// Every differentiable op the models use, checked against central finite differences in f32.
const TOL = 1e-3;
const cases: Record<string, Parameters<typeof gradCheck>[0]> = {
  add_broadcast: {
    shapes: [
      [6, 4],
      [6, 1],
    ],
    build: (o, [a, b]) => o.add(a, b),
  },
  sub: {
    shapes: [
      [5, 3],
      [5, 3],
    ],
    build: (o, [a, b]) => o.sub(a, b),
  },
  sub_broadcast: {
    shapes: [
      [5, 3],
      [5, 1],
    ],
    build: (o, [a, b]) => o.sub(a, b),
  },
  mul_broadcast: {
    shapes: [
      [6, 4],
      [6, 1],
    ],
    build: (o, [a, b]) => o.mul(a, b),
  },
  div: {
    shapes: [
      [5, 3],
      [5, 3],
    ],
    build: (o, [a, b]) => o.div(a, b),
    init: (i, n, r) =>
      i === 1 ? Float32Array.from({ length: n }, () => 1.5 + r() * 0.5) : randomArray(n, r),
  },
  scale: { shapes: [[7, 2]], build: (o, [a]) => o.scale(a, -1.7) },
  sqr: { shapes: [[7, 2]], build: (o, [a]) => o.sqr(a) },
  sqrt: {
    shapes: [[7, 2]],
    build: (o, [a]) => o.sqrt(a),
    init: (_, n, r) => Float32Array.from({ length: n }, () => 1 + r() * 0.5),
  },
  log: {
    shapes: [[7, 2]],
    build: (o, [a]) => o.log(a),
    init: (_, n, r) => Float32Array.from({ length: n }, () => 1.5 + r() * 0.5),
  },
  exp: { shapes: [[7, 2]], build: (o, [a]) => o.exp(a) },
  silu: { shapes: [[9, 3]], build: (o, [a]) => o.silu(a) },
  softplus: { shapes: [[9, 3]], build: (o, [a]) => o.softplus(a) },
  swiglu: {
    shapes: [
      [8, 3],
      [8, 3],
    ],
    build: (o, [a, b]) => o.swiglu(a, b),
  },
  gelu_tanh: { shapes: [[9, 3]], build: (o, [a]) => o.gelu(o.scale(a, 2)) },
  tanh: { shapes: [[9, 3]], build: (o, [a]) => o.tanh(o.scale(a, 2)) },
  mul_mat: {
    shapes: [
      [8, 5],
      [8, 3],
    ],
    build: (o, [w, x]) => o.mulMat(w, x),
  },
  mul_mat_batched_broadcast: {
    shapes: [
      [8, 5, 2],
      [8, 3, 4],
    ],
    build: (o, [w, x]) => o.mulMat(w, x),
  },
  rms_norm: { shapes: [[16, 3]], build: (o, [a]) => o.rmsNorm(a, 1e-5) },
  layer_norm: { shapes: [[16, 3]], build: (o, [a]) => o.layerNorm(a, 1e-5) },
  sum_rows_mean: { shapes: [[6, 4]], build: (o, [a]) => o.add(o.sumRows(a), o.mean(a)) },
  soft_max_masked_scaled: {
    shapes: [[6, 4, 2]],
    build: (o, [a], ctx) => {
      const mask = ctx.input(0, [6, 4], "mask");
      return o.softMax(a, mask, 0.7);
    },
    fill: (ctx) => {
      const mask = ctx.tensors().find((t) => t.name === "mask")!;
      const m = new Float32Array(24);
      for (let q = 0; q < 4; q++) for (let k = 0; k < 6; k++) m[q * 6 + k] = k > q + 2 ? -Infinity : 0;
      mask.set(m);
    },
  },
  rope_normal_and_neox: {
    shapes: [[8, 2, 5]],
    build: (o, [a], ctx) => {
      const pos = ctx.input(26, [5], "pos");
      const r1 = o.rope(a, pos, { nDims: 8, mode: RopeMode.NORMAL, freqBase: 10000 });
      return o.rope(r1, pos, { nDims: 6, mode: RopeMode.NEOX, freqBase: 500 });
    },
    fill: (ctx) =>
      ctx
        .tensors()
        .find((t) => t.name === "pos")!
        .set(new Int32Array([0, 1, 2, 7, 30])),
  },
  get_rows: {
    shapes: [[5, 7]],
    build: (o, [a], ctx) => o.getRows(a, ctx.input(26, [4], "ids")),
    fill: (ctx) =>
      ctx
        .tensors()
        .find((t) => t.name === "ids")!
        .set(new Int32Array([3, 0, 3, 6])),
  },
  views_permute_cont_reshape: {
    shapes: [[4, 3, 2]],
    build: (o, [a]) => {
      const p = o.cont(o.permute(a, [1, 0, 2, 3]));
      const v = o.view(p, [3, 2, 2], [p.nb[1], p.nb[2]], 0);
      return o.reshape(o.cont(o.transpose(o.reshape(o.cont(v), [6, 2]))), [12]);
    },
  },
  cross_entropy: {
    shapes: [[10, 4]],
    build: (o, [logits], ctx) => o.scale(o.crossEntropy(logits, ctx.input(0, [10, 4], "labels")), 3),
    fill: (ctx) => {
      const l = new Float32Array(40);
      l[2] = 1;
      l[10 + 7] = 1;
      l[20 + 1] = 0.25;
      l[20 + 5] = 0.75;
      l[30 + 9] = 1;
      ctx
        .tensors()
        .find((t) => t.name === "labels")!
        .set(l);
    },
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(`gradient of ${name} matches central finite differences`, () => {
    const { relErr } = gradCheck(c);
    assert.ok(relErr <= TOL, `${name}: relative error ${relErr.toExponential(2)} > ${TOL}`);
  });
}

test("LoRA-shaped products: OUT_PRODs with rank-long rows are rewritten and their gradients still match finite differences", () => {
  // y = Bᵀ·(Aᵀ·x) with rank 4 and rows of 96/80 (≥ 64): dB (rows of 4 over 80 outputs) becomes a transposed
  // OUT_PROD with 80-float rows, d(Aᵀx) (rows of 4 over the tokens) a MUL_MAT of Bᵀ; dA keeps OUT_PROD, and dx
  // becomes a MUL_MAT of Aᵀ only under tunekit's packed f32 GEMM.
  const { relErr, outProducts } = gradCheck({
    shapes: [
      [96, 4],
      [4, 80],
      [96, 6],
    ],
    build: (o, [a, b, x]) => o.mulMat(b, o.mulMat(a, x)),
  });
  assert.equal(outProducts, hasPackedF32Gemm() ? 3 : 2);
  assert.ok(relErr <= TOL, `relative error ${relErr.toExponential(2)} > ${TOL}`);
});

test("ops without a ggml backward are refused with a clear error instead of aborting", () => {
  for (const build of [
    (o: Ops, [a]: Tensor[]) => o.tanhInference(a),
    (o: Ops, [a]: Tensor[]) => o.geluInference(a),
    (o: Ops, [a]: Tensor[]) => o.normInference(a, 1e-5),
  ])
    assert.throws(() => gradCheck({ shapes: [[6, 2]], build }), /no gradient for/);
});
