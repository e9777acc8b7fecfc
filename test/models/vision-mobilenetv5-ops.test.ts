// The convolution, padding, pooling and upsampling ops MobileNet-V5 needs, checked against direct loops
// written from the PyTorch definitions (cross-correlation, zero padding, floor output sizes), and the
// refusals that keep ggml from aborting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Context, Graph, Ops } from "../../lib/engine/index.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { castF32, floatBytesToF32 } from "../../lib/models/cast.js";
import { EngineError } from "../../lib/util/errors.js";

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Reference conv: x [W,H,C,N], k [KW,KH,Cin/groups,Cout] (ggml order), groups = 1 or C (depthwise). */
function convRef(
  x: Float32Array,
  [W, H, C, N]: number[],
  k: Float32Array,
  [KW, KH, , CO]: number[],
  s: number,
  p: number,
  depthwise: boolean,
): { out: Float32Array; ne: number[] } {
  const OW = Math.floor((W + 2 * p - KW) / s) + 1;
  const OH = Math.floor((H + 2 * p - KH) / s) + 1;
  const out = new Float32Array(OW * OH * CO * N);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < CO; o++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let acc = 0;
          const cins = depthwise ? [o] : Array.from({ length: C }, (_, i) => i);
          for (const c of cins)
            for (let ky = 0; ky < KH; ky++)
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * s - p + kx;
                const iy = oy * s - p + ky;
                if (ix < 0 || iy < 0 || ix >= W || iy >= H) continue;
                const kc = depthwise ? 0 : c;
                acc +=
                  x[ix + W * (iy + H * (c + C * n))] *
                  k[kx + KW * (ky + KH * (kc + (depthwise ? 1 : C) * o))];
              }
          out[ox + OW * (oy + OH * (o + CO * n))] = acc;
        }
  return { out, ne: [OW, OH, CO, N] };
}

function run(build: (ctx: Context, ops: Ops) => { out: ReturnType<Ops["add"]>; fill: () => void }): {
  data: Float32Array;
  ne: number[];
} {
  const ctx = new Context({ maxTensors: 64, graphSize: 64 });
  try {
    const ops = new Ops(ctx);
    const { out, fill } = build(ctx, ops);
    const g = Graph.build(ctx, [out]);
    g.allocate();
    fill();
    g.compute();
    const r = { data: out.f32(), ne: out.ne.slice() };
    g.free();
    return r;
  } finally {
    ctx.free();
  }
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

test("conv2d (direct) equals a reference convolution, f32 and f16 kernels, stride 1 and 2", () => {
  const xs = [7, 6, 3, 2];
  const ks = [3, 3, 3, 5];
  const x = values(7 * 6 * 3 * 2, 1);
  const k = values(3 * 3 * 3 * 5, 2);
  for (const type of [GgmlType.F32, GgmlType.F16])
    for (const [s, p] of [
      [1, 1],
      [2, 0],
    ]) {
      // the f16 kernel's reference uses the rounded kernel values
      const kRounded = floatBytesToF32(type, castF32(k, type));
      const ref = convRef(x, xs, kRounded, ks, s, p, false);
      const got = run((ctx, ops) => {
        const xt = ctx.input(GgmlType.F32, xs);
        const kt = ctx.input(type, ks);
        return {
          out: ops.conv2d(kt, xt, { stride: [s, s], padding: [p, p] }),
          fill: () => {
            xt.set(x);
            kt.set(castF32(k, type));
          },
        };
      });
      assert.deepEqual(got.ne, ref.ne);
      // an f16 kernel makes ggml round the input patches to f16 too
      const err = maxRelErr(got.data, ref.out);
      assert.ok(err < (type === GgmlType.F32 ? 1e-5 : 2e-3), `type ${type} stride ${s}: ${err}`);
    }
});

test("conv2dDepthwise (im2col in f16, as llama.cpp) is a per-channel convolution", () => {
  const xs = [9, 8, 4, 1];
  const ks = [3, 3, 1, 4];
  const x = values(9 * 8 * 4, 3);
  const k = values(3 * 3 * 4, 4);
  const kRounded = floatBytesToF32(GgmlType.F16, castF32(k, GgmlType.F16));
  for (const [s, p] of [
    [1, 1],
    [2, 0],
  ]) {
    const ref = convRef(x, xs, kRounded, ks, s, p, true);
    const got = run((ctx, ops) => {
      const xt = ctx.input(GgmlType.F32, xs);
      const kt = ctx.input(GgmlType.F16, ks);
      return {
        out: ops.conv2dDepthwise(kt, xt, { stride: [s, s], padding: [p, p] }),
        fill: () => {
          xt.set(x);
          kt.set(castF32(k, GgmlType.F16));
        },
      };
    });
    assert.deepEqual(got.ne, ref.ne);
    // the input goes through f16 (im2col's type), so 1e-3 relative is the precision to expect
    const err = maxRelErr(got.data, ref.out);
    assert.ok(err < 2e-3 && err > 0, `stride ${s}: ${err}`);
  }
});

test("padExt, upscaleNearest and pool2d", () => {
  const x = values(4 * 3 * 2, 5);
  const pad = run((ctx, ops) => {
    const xt = ctx.input(GgmlType.F32, [4, 3, 2]);
    return { out: ops.padExt(xt, [1, 2, 0, 1, 0, 0, 0, 0]), fill: () => xt.set(x) };
  });
  assert.deepEqual(pad.ne, [7, 4, 2, 1]);
  for (let c = 0; c < 2; c++)
    for (let y = 0; y < 4; y++)
      for (let i = 0; i < 7; i++) {
        const inside = i >= 1 && i < 5 && y < 3;
        const want = inside ? x[i - 1 + 4 * (y + 3 * c)] : 0;
        assert.equal(pad.data[i + 7 * (y + 4 * c)], want);
      }
  const up = run((ctx, ops) => {
    const xt = ctx.input(GgmlType.F32, [4, 3, 2]);
    return { out: ops.upscaleNearest(xt, 2), fill: () => xt.set(x) };
  });
  assert.deepEqual(up.ne, [8, 6, 2, 1]);
  for (let c = 0; c < 2; c++)
    for (let y = 0; y < 6; y++)
      for (let i = 0; i < 8; i++)
        assert.equal(up.data[i + 8 * (y + 6 * c)], x[(i >> 1) + 4 * ((y >> 1) + 3 * c)]);
  const y6 = values(6 * 4 * 2, 6);
  const pool = run((ctx, ops) => {
    const xt = ctx.input(GgmlType.F32, [6, 4, 2]);
    return { out: ops.pool2d(xt, "avg", [2, 2], [2, 2]), fill: () => xt.set(y6) };
  });
  assert.deepEqual(pool.ne, [3, 2, 2, 1]);
  for (let c = 0; c < 2; c++)
    for (let oy = 0; oy < 2; oy++)
      for (let ox = 0; ox < 3; ox++) {
        let sum = 0;
        for (let dy = 0; dy < 2; dy++)
          for (let dx = 0; dx < 2; dx++) sum += y6[2 * ox + dx + 6 * (2 * oy + dy + 4 * c)];
        assert.ok(Math.abs(pool.data[ox + 3 * (oy + 2 * c)] - sum / 4) < 1e-6);
      }
});

test("inputs that would make ggml abort are refused", () => {
  const ctx = new Context({ maxTensors: 32 });
  const refused = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: Error) => e instanceof EngineError && re.test(e.message));
  try {
    const ops = new Ops(ctx);
    const x = ctx.f32([8, 8, 3, 1]);
    refused(() => ops.conv2d(ctx.f32([3, 3, 4, 2]), x), /input channels/);
    refused(() => ops.conv2d(ctx.f32([9, 9, 3, 2]), x), /does not fit/);
    refused(() => ops.conv2d(ctx.f32([3, 3, 3, 2]), x, { stride: [0, 1] }), /stride/);
    refused(() => ops.conv2d(ctx.tensor(GgmlType.Q8_0, [32, 1, 3, 2]), x), /f32 or f16/);
    refused(() => ops.conv2dDepthwise(ctx.f32([3, 3, 1, 3]), x), /f16 or bf16/);
    refused(() => ops.conv2dDepthwise(ctx.tensor(GgmlType.F16, [3, 3, 1, 4]), x), /\[KW, KH, 1, 3\]/);
    refused(
      () => ops.conv2dDepthwise(ctx.tensor(GgmlType.F16, [3, 3, 1, 3]), ops.permute(x, [1, 0, 2, 3])),
      /contiguous/,
    );
    refused(() => ops.padExt(x, [-1, 0, 0, 0, 0, 0, 0, 0]), /non-negative/);
    refused(() => ops.upscaleNearest(x, 1), /≥ 2/);
    refused(() => ops.pool2d(x, "avg", [9, 9], [1, 1]), /does not fit/);
  } finally {
    ctx.free();
  }
});
