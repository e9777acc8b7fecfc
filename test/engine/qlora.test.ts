// QLoRA through the engine: a two-layer LoRA model around frozen q8_0 / q4_K weights, against the same model
// whose frozen weights are the dequantized f32 values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { getBackend } from "../../lib/engine/index.js";
import { MaskedLossLabels } from "../../lib/engine/loss.js";
import { dequantize, quantize } from "../../lib/engine/quant.js";
import { GgmlType, ggmlTypeName } from "../../lib/gguf/ggml-types.js";
import { EngineError } from "../../lib/util/errors.js";
import { rng } from "./gradcheck.js";
import {
  LoraModel,
  gaussian,
  makeProblem,
  relError,
  type LoraProblem,
  type ModelVariant,
} from "./lora-model.js";

// One thread: small graphs compute faster and the results do not depend on how work is split.
getBackend().setThreads(1);
const problem = makeProblem();
const hasRepack = getBackend().extraBufferTypes.some((e) => e.name === "CPU_REPACK");

function gradsOf(
  p: LoraProblem,
  v: ModelVariant,
): { grads: Float32Array[]; rewritten: number; buffers: string[] } {
  const m = new LoraModel(p, v);
  try {
    m.run();
    return { grads: m.grads(), rewritten: m.rewritten, buffers: m.w.map((w) => w.bufferType) };
  } finally {
    m.free();
  }
}

const dq = (type: number, a: Float32Array, rowLength: number) =>
  dequantize(type, quantize(type, a, rowLength), a.length);

// ggml's quantized matmul first quantizes its f32 input (activations, or the incoming gradient after the
// rewrite) to the weight's dot-product type — q8_0 blocks of 32 for Q8_0, q8_K blocks of 256 for Q4_K — and
// then multiplies exactly. Rounding to 255 levels of a block's absolute maximum leaves a uniform error of
// amax/254 at most, about amax/(127·√12) RMS: 0.5–0.7 % of the values' RMS for Gaussian-like blocks
// (amax ≈ 2.1σ of 32, ≈ 2.9σ of 256 values). The LoRA gradients inherit that: we measured 0.4–0.9 %
// (f16/bf16/f32 copies or plain OUT_PROD) and ~1.2 % with a q8_0 copy, which quantizes Wᵀ and the incoming
// gradient once more. Bounds: 2 % and 3 %. A transposed copy of the wrong values (the unquantized W instead
// of the stored one) measured 6 % for q4_K.
const BOUND = 2e-2;
const BOUND_Q8_COPY = 3e-2;

for (const type of [GgmlType.Q8_0, GgmlType.Q4_K]) {
  const name = ggmlTypeName(type);
  test(`${name} frozen weights: LoRA gradients match the dequantized-f32 model, with and without the rewrite`, () => {
    const ref = gradsOf(problem, {
      type: GgmlType.F32,
      transposed: null,
      w1: dq(type, problem.w1, problem.D),
      w2: dq(type, problem.w2, problem.H),
    });
    assert.equal(ref.rewritten, 0);
    const plain = gradsOf(problem, { type, transposed: null });
    assert.equal(plain.rewritten, 0, "no transposed copies: ggml's OUT_PROD stays");
    assert.deepEqual(
      plain.buffers,
      ["CPU", "CPU"],
      "without a transposed copy autograd reads W: no extra buffer",
    );
    const errPlain = relError(plain.grads, ref.grads);
    assert.ok(errPlain <= BOUND, `${name} plain backward: relative error ${errPlain.toExponential(2)}`);
    for (const copy of [GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0]) {
      const fast = gradsOf(problem, { type, transposed: copy });
      // Only W2's input needs a gradient (x is data), so exactly one OUT_PROD is rewritten.
      assert.equal(fast.rewritten, 1, `${name} with a ${ggmlTypeName(copy)} copy: OUT_PROD rewritten`);
      if (type === GgmlType.Q4_K && hasRepack)
        assert.deepEqual(
          fast.buffers,
          ["CPU_REPACK", "CPU_REPACK"],
          "q4_K goes to CPU_REPACK when it has a copy",
        );
      const err = relError(fast.grads, ref.grads);
      const bound = copy === GgmlType.Q8_0 ? BOUND_Q8_COPY : BOUND;
      assert.ok(
        err <= bound,
        `${name}, ${ggmlTypeName(copy)} copy: relative error ${err.toExponential(2)} > ${bound}`,
      );
      const vsPlain = relError(fast.grads, plain.grads);
      assert.ok(vsPlain <= bound, `${name}: rewrite vs plain OUT_PROD ${vsPlain.toExponential(2)}`);
    }
    if (type === GgmlType.Q4_K) {
      // The comparison can tell models apart: q4_K's own weight error (≈7 % RMS) moves the gradients well
      // beyond the bound when the reference keeps the original weights.
      const orig = gradsOf(problem, { type: GgmlType.F32, transposed: null });
      const err = relError(plain.grads, orig.grads);
      assert.ok(err > BOUND, `q4_K vs unquantized weights differ by only ${err.toExponential(2)}`);
    }
  });
}

test("f32-base LoRA gradients agree with central finite differences", () => {
  const m = new LoraModel(problem, { type: GgmlType.F32, transposed: GgmlType.F32 });
  try {
    m.run();
    const grads = m.grads();
    const base = problem.init.map((a) => a.slice());
    const g = gaussian(rng(3));
    const eps = 1e-2;
    grads.forEach((gi, i) => {
      const norm = Math.hypot(...gi);
      assert.ok(norm > 0, `parameter ${i} has a zero gradient`);
      // Along the gradient (the largest directional derivative) and three random unit directions.
      const dirs = [Float32Array.from(gi, (v) => v / norm)];
      for (let k = 0; k < 3; k++) {
        const r = Float32Array.from(gi, () => g());
        const n = Math.hypot(...r);
        dirs.push(r.map((v) => v / n));
      }
      for (const d of dirs) {
        const at = (s: number) => {
          const values = base.map((a) => a.slice());
          values[i] = values[i].map((x, j) => x + s * eps * d[j]);
          m.setParams(values);
          return m.run();
        };
        const fd = (at(1) - at(-1)) / (2 * eps);
        const analytic = gi.reduce((s, x, j) => s + x * d[j], 0);
        assert.ok(
          Math.abs(fd - analytic) <= 1e-3 * norm,
          `parameter ${i}: finite difference ${fd} vs ${analytic} (‖g‖ ${norm})`,
        );
      }
    });
  } finally {
    m.free();
  }
});

for (const type of [GgmlType.Q8_0, GgmlType.Q4_K]) {
  test(`training around frozen ${ggmlTypeName(type)} weights with AdamW lowers the loss`, () => {
    const m = new LoraModel(problem, { type, transposed: GgmlType.F16 });
    try {
      assert.equal(m.rewritten, 1);
      const losses = m.train(30, 0.02);
      const nTargets = problem.mask.reduce((s, x) => s + x, 0);
      const nll = losses.map(
        (l) => MaskedLossLabels.nllSum(l, problem.T, nTargets, nTargets, problem.V) / nTargets,
      );
      assert.ok(nll[0] > 3, `initial per-token NLL ${nll[0]}`);
      assert.ok(nll.every(Number.isFinite));
      assert.ok(
        nll[nll.length - 1] < 0.2 * nll[0],
        `NLL ${nll[0].toFixed(3)} → ${nll[nll.length - 1].toFixed(3)}`,
      );
    } finally {
      m.free();
    }
  });
}

test(
  "a weight in a private layout that autograd would read is refused before compute",
  { skip: !hasRepack && "no CPU_REPACK buffer type here" },
  () => {
    // forwardOnly promises no gradient flows through W — but W2's input needs one, so ggml's backward adds an
    // OUT_PROD that would read CPU_REPACK's repacked blocks as plain q4_K.
    const m = new LoraModel(problem, { type: GgmlType.Q4_K, transposed: null, forwardOnly: true });
    try {
      assert.deepEqual(
        m.w.map((w) => w.bufferType),
        ["CPU_REPACK", "CPU_REPACK"],
      );
      assert.throws(
        () => m.run(),
        (e: Error) => e instanceof EngineError && /OUT_PROD.*private layout of CPU_REPACK/.test(e.message),
      );
      assert.throws(
        () => m.w[0].tensor.bytes(),
        (e: Error) => e instanceof EngineError && /cannot be read back/.test(e.message),
      );
      assert.throws(() => m.w[0].tensor.set(new Uint8Array(16)), EngineError);
    } finally {
      m.free();
    }
  },
);
