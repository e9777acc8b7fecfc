import { test } from "node:test";
import assert from "node:assert/strict";
import { dequantize, fallbackType, quantize, requiresImatrix } from "../../lib/engine/quant.js";
import { GgmlType, type GgmlTypeName } from "../../lib/gguf/ggml-types.js";
import { EngineError } from "../../lib/util/errors.js";
import { rng } from "./gradcheck.js";
import { gaussian } from "./lora-model.js";

const roundTrip = (type: number, x: Float32Array, rowLength: number, imatrix?: Float32Array) =>
  dequantize(type, quantize(type, x, rowLength, imatrix), x.length);

// llama.cpp's tests/test-quantize-fns.cpp: data 0.1 + 2·cos(i + offset) over 32·128 values, error measured as
// sqrt(Σ (x − x̂)²) / n (its array_rmse), bounds MAX_QUANTIZATION_TOTAL_ERROR* by type.
const FNS_N = 32 * 128;
const FNS_BOUND: Partial<Record<GgmlTypeName, number>> = {
  F16: 0.002,
  BF16: 0.002,
  Q8_0: 0.002,
  Q6_K: 0.002,
  Q5_K: 0.002,
  Q5_1: 0.002,
  Q5_0: 0.002,
  Q4_K: 0.002,
  Q4_1: 0.002,
  Q4_0: 0.002,
  IQ4_NL: 0.002,
  IQ4_XS: 0.002,
  MXFP4: 0.002,
  Q3_K: 0.004, // _3BITS
  IQ3_S: 0.004, // _3BITS
  Q2_K: 0.0075, // _2BITS
  TQ1_0: 0.01, // _TERNARY
  TQ2_0: 0.01, // _TERNARY
  Q2_0: 0.01, // _TERNARY
  NVFP4: 0.003, // _FP4
  Q1_0: 0.025, // _BINARY
};

test("quantize→dequantize error within llama.cpp's test-quantize-fns bounds", () => {
  const x = Float32Array.from({ length: FNS_N }, (_, i) => 0.1 + 2 * Math.cos(i));
  for (const [name, bound] of Object.entries(FNS_BOUND)) {
    const t = GgmlType[name as GgmlTypeName];
    const y = roundTrip(t, x, FNS_N);
    let s = 0;
    for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
    const err = Math.sqrt(s) / FNS_N;
    assert.ok(err < bound!, `${name}: error ${err.toExponential(3)} ≥ ${bound}`);
    assert.ok(err > 0 || t === GgmlType.F32, `${name}: a lossy type reproduced the data exactly?`);
  }
});

test("IQ types that need an importance matrix are refused without one, and quantize with one", () => {
  const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.37));
  for (const name of ["IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M", "IQ2_S", "IQ3_XXS"] as const) {
    assert.ok(requiresImatrix(GgmlType[name]), name);
    assert.throws(
      () => quantize(GgmlType[name], x, 256),
      (e: Error) => e instanceof EngineError && /importance matrix/.test(e.message),
    );
  }
  for (const name of ["Q4_K", "Q2_K", "IQ4_NL", "IQ4_XS", "IQ3_S"] as const)
    assert.ok(!requiresImatrix(GgmlType[name]), name);
  // IQ3_XXS with an importance matrix (its grid initialises in well under a second; IQ2/IQ1 grids take many).
  const im = Float32Array.from({ length: 256 }, (_, i) => 1 + (i % 7));
  const y = roundTrip(GgmlType.IQ3_XXS, x, 256, im);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
  assert.ok(Math.sqrt(s / x.length) < 0.2, `IQ3_XXS rms error ${Math.sqrt(s / x.length)}`);
});

/** Relative RMS error of a round trip on Gaussian data (64 rows of 256). */
function gaussianError(type: number, x: Float32Array): number {
  const y = roundTrip(type, x, 256);
  let e = 0,
    n = 0;
  for (let i = 0; i < x.length; i++) {
    e += (x[i] - y[i]) ** 2;
    n += x[i] ** 2;
  }
  return Math.sqrt(e / n);
}

test("on Gaussian data the error falls with the bits per weight: Q8_0 < Q6_K < Q5_K < Q4_K < Q3_K < Q2_K", () => {
  const g = gaussian(rng(5));
  const x = Float32Array.from({ length: 64 * 256 }, g);
  const order = ["BF16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K"] as const;
  const errs = order.map((n) => gaussianError(GgmlType[n], x));
  for (let i = 1; i < errs.length; i++)
    assert.ok(errs[i - 1] < errs[i], `${order[i - 1]} ${errs[i - 1]} should be below ${order[i]} ${errs[i]}`);
  // One bit less doubles the step of a uniform quantizer, hence its error: the K-quants Q6_K…Q2_K are one bit
  // apart, so consecutive error ratios stay near 2.
  for (let i = 3; i < errs.length; i++) {
    const ratio = errs[i] / errs[i - 1];
    assert.ok(ratio > 1.5 && ratio < 3, `${order[i]}/${order[i - 1]} error ratio ${ratio}`);
  }
  assert.ok(gaussianError(GgmlType.Q5_0, x) < gaussianError(GgmlType.Q4_0, x));
  assert.ok(gaussianError(GgmlType.Q5_1, x) < gaussianError(GgmlType.Q4_1, x));
});

test("Q8_0, Q5_0 and Q4_0 stay within their hand-derived per-element bounds", () => {
  // Block of 32 with scale d = amax / qmax (stored as f16): rounding moves a value by ≤ d/2, the f16 scale by
  // ≤ qmax·d·2⁻¹¹ more; Q4_0 and Q5_0 map the extreme value to −2^(b−1) and clamp the other side at
  // 2^(b−1) − 1, so their bound is a full step d there.
  const g = gaussian(rng(9));
  const x = Float32Array.from({ length: 64 * 256 }, g);
  for (const [name, qmax, steps] of [
    ["Q8_0", 127, 0.5],
    ["Q5_0", 16, 1],
    ["Q4_0", 8, 1],
  ] as const) {
    const y = roundTrip(GgmlType[name], x, 256);
    for (let b = 0; b < x.length; b += 32) {
      let amax = 0;
      for (let i = b; i < b + 32; i++) amax = Math.max(amax, Math.abs(x[i]));
      const d = amax / qmax;
      const bound = steps * d + qmax * d * 2 ** -11 + 1e-7;
      for (let i = b; i < b + 32; i++)
        assert.ok(Math.abs(x[i] - y[i]) <= bound, `${name} element ${i}: |${x[i]} − ${y[i]}| > ${bound}`);
    }
  }
});

/** IEEE half rounding (nearest, ties to even) computed in doubles. */
function toHalf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity; // 65504 + half an ulp (16) rounds up to infinity
  const e = a === 0 ? -24 : Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r -= 1; // Math.round rounds .5 up: make ties even
  return Math.sign(x) * r * ulp;
}

/** bfloat16 rounding as ggml does it: nearest-even on the top 16 bits, NaN stays NaN. */
function toBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (Number.isNaN(x)) return NaN;
  u[0] = ((u[0] + (0x7fff + ((u[0] >>> 16) & 1))) >>> 16) << 16;
  return f[0];
}

test("F16 and BF16 round to nearest-even exactly as IEEE defines, and their values round-trip exactly", () => {
  const r = rng(21);
  const specials = [
    0,
    -0,
    1,
    -1,
    65504,
    65519.99,
    65520,
    1e-8,
    6.1e-5,
    5.96e-8,
    2.98e-8,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    Infinity,
    -Infinity,
  ];
  const x = Float32Array.from([
    ...specials,
    ...Array.from({ length: 4000 }, () => r() * 10 ** Math.floor(r() * 12 - 4)),
  ]);
  const h = roundTrip(GgmlType.F16, x, x.length);
  const b = roundTrip(GgmlType.BF16, x, x.length);
  for (let i = 0; i < x.length; i++) {
    assert.ok(
      Object.is(h[i], Math.fround(toHalf(x[i]))) || h[i] === toHalf(x[i]),
      `f16(${x[i]}) = ${h[i]}, IEEE ${toHalf(x[i])}`,
    );
    assert.ok(
      Object.is(b[i], toBf16(x[i])) || b[i] === toBf16(x[i]),
      `bf16(${x[i]}) = ${b[i]}, expected ${toBf16(x[i])}`,
    );
  }
  // values already in the format survive unchanged; NaN stays NaN
  assert.deepEqual(roundTrip(GgmlType.F16, h, h.length), h);
  assert.deepEqual(roundTrip(GgmlType.BF16, b, b.length), b);
  assert.ok(Number.isNaN(roundTrip(GgmlType.BF16, new Float32Array([NaN]), 1)[0]));
  // F32 is a plain copy
  assert.deepEqual(roundTrip(GgmlType.F32, x, x.length), x);
});

test("fallbackType follows llama.cpp's tensor_type_fallback", () => {
  const T = GgmlType;
  const cases: Array<[number, number, number]> = [
    [T.Q4_K, 4096, T.Q4_K],
    [T.Q4_K, 576, T.Q5_0], // SmolLM2-135M's hidden size
    [T.Q5_K, 576, T.Q5_1],
    [T.Q6_K, 576, T.Q8_0],
    [T.Q2_K, 576, T.Q4_0],
    [T.Q3_K, 576, T.Q4_0],
    [T.TQ2_0, 96, T.Q4_0],
    [T.IQ4_XS, 576, T.IQ4_NL],
    [T.IQ2_XXS, 576, T.IQ4_NL],
    [T.Q4_K, 100, T.F16], // not even a multiple of 32
    [T.Q8_0, 100, T.F16],
    [T.Q8_0, 96, T.Q8_0],
    [T.F32, 7, T.F32],
  ];
  for (const [type, row, want] of cases) assert.equal(fallbackType(type, row), want, `${type} row ${row}`);
  assert.throws(() => fallbackType(T.Q1_0, 64), EngineError); // llama.cpp: "no tensor type fallback"
  // the fallback type always quantizes such a row
  const x = Float32Array.from({ length: 576 * 2 }, (_, i) => Math.cos(i));
  for (const [type, row] of cases.filter(([, r]) => r === 576)) quantize(fallbackType(type, row), x, 576);
});

test("quantize and dequantize validate their inputs before calling ggml", () => {
  const x = new Float32Array(512).fill(0.5);
  const bad = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: Error) => e instanceof EngineError && re.test(e.message));
  bad(() => quantize(GgmlType.Q4_K, x, 128), /whole blocks of 256/);
  bad(() => quantize(GgmlType.Q8_0, x.subarray(0, 100), 50), /whole blocks of 32/);
  bad(() => quantize(GgmlType.Q8_0, x.subarray(0, 96), 64), /not whole rows/);
  bad(() => quantize(GgmlType.Q8_0, x, 0), /positive integer/);
  bad(() => quantize(GgmlType.Q8_K, x, 256), /cannot quantize/);
  bad(() => quantize(GgmlType.I32, x, 256), /cannot quantize/);
  bad(() => quantize(99, x, 256), /unknown ggml type/);
  bad(
    () =>
      quantize(
        GgmlType.Q4_0,
        Float32Array.from(x, (v, i) => (i === 7 ? NaN : v)),
        256,
      ),
    /finite/,
  );
  bad(() => quantize(GgmlType.Q4_K, x, 256, new Float32Array(128)), /importance matrix has 128/);
  bad(() => quantize(GgmlType.Q4_K, x, 256, new Float32Array(256).fill(-1)), /must be finite and ≥ 0/);
  bad(() => dequantize(GgmlType.Q4_K, new Uint8Array(100), 256), /take 144 bytes/);
  bad(() => dequantize(GgmlType.Q4_K, new Uint8Array(144), 100), /whole Q4_K blocks/);
  bad(() => dequantize(GgmlType.I32, new Uint8Array(16), 4), /no conversion/);
});
