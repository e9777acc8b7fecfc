import { test } from "node:test";
import assert from "node:assert/strict";
import { getBackend } from "../../lib/engine/index.js";
import { dequantize, quantize } from "../../lib/engine/quant.js";
import { FrozenWeights, supportsMulMat } from "../../lib/engine/weights.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { rng } from "./gradcheck.js";

const K = 512,
  N = 64;
const r = rng(4);
const data = Float32Array.from({ length: K * N }, () => r());

test("transposed copies hold the transpose of the weight as stored, in the chosen type", () => {
  const fw = new FrozenWeights({ maxWeights: 4, extraBuffer: "none" });
  try {
    const f32 = fw.add({ name: "f32", shape: [K, N], data });
    assert.equal(f32.transposed!.type, GgmlType.F32, "auto: an f32 weight gets an exact f32 copy");
    assert.deepEqual(
      f32.transposed!.f32(),
      Float32Array.from({ length: K * N }, (_, i) => data[(i % N) * K + Math.floor(i / N)]),
    );
    for (const [type, copy] of [
      [GgmlType.Q4_K, GgmlType.F16],
      [GgmlType.Q8_0, GgmlType.BF16],
      [GgmlType.F16, GgmlType.F32],
    ] as const) {
      const w = fw.add({
        name: `w${type}`,
        shape: [K, N],
        data,
        type,
        transposed: type === GgmlType.Q4_K ? "auto" : copy,
      });
      assert.equal(w.type, type);
      assert.equal(w.transposed!.type, copy);
      assert.deepEqual(w.transposed!.shape, [N, K]);
      const stored = dequantize(type, w.tensor.bytes(), K * N);
      const t = dequantize(copy, w.transposed!.bytes(), K * N);
      const expected = dequantize(copy, quantize(copy, transpose(stored, K, N), N), K * N);
      assert.deepEqual(t, expected, `copy of ${type}`);
      assert.equal(fw.transposedMap.get(w.tensor.ptr)?.ptr, w.transposed!.ptr);
    }
    assert.equal(fw.transposedMap.size, 4);
    assert.ok(fw.bytes > 0);
  } finally {
    fw.free();
  }
});

test("weights given as bytes of their type are stored unchanged", () => {
  const fw = new FrozenWeights({ maxWeights: 1, extraBuffer: "none", transposed: null });
  try {
    const bytes = quantize(GgmlType.Q4_K, data, K);
    const w = fw.add({ name: "gguf", shape: [K, N], bytes, sourceType: GgmlType.Q4_K });
    assert.equal(w.type, GgmlType.Q4_K);
    assert.deepEqual(w.tensor.bytes(), bytes);
  } finally {
    fw.free();
  }
});

test("extra buffer types are used only where supports_op allows and a transposed copy exists", () => {
  const backend = getBackend();
  const fw = new FrozenWeights({ maxWeights: 10 });
  try {
    for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K]) {
      const w = fw.add({ name: `a${type}`, shape: [K, N], data, type, transposed: GgmlType.F16 });
      const supporting = backend.extraBufferTypes.filter((e) =>
        supportsMulMat(backend.device, e.buft, type, [K, N]),
      );
      assert.equal(w.bufferType, supporting[0]?.name ?? "CPU", `type ${type}`);
      const noCopy = fw.add({ name: `b${type}`, shape: [K, N], data, type, transposed: null });
      assert.equal(noCopy.bufferType, "CPU", "no copy: autograd would read it, so no extra buffer");
    }
    // this ggml's CPU_REPACK has x86 kernels for Q4_0 and Q4_K (AVX2) but not for Q8_0 (ARM only)
    const repack = backend.extraBufferTypes.find((e) => e.name === "CPU_REPACK");
    if (repack && backend.cpuFeatures.AVX2) {
      assert.equal(supportsMulMat(backend.device, repack.buft, GgmlType.Q4_K, [K, N]), true);
      assert.equal(supportsMulMat(backend.device, repack.buft, GgmlType.Q8_0, [K, N]), false);
      assert.equal(
        supportsMulMat(backend.device, repack.buft, GgmlType.Q4_K, [K, 6]),
        false,
        "rows must come in 8s",
      );
    }
  } finally {
    fw.free();
  }
});

function transpose(a: Float32Array, k: number, n: number): Float32Array {
  const out = new Float32Array(k * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[j * n + i] = a[i * k + j];
  return out;
}
