// The differentiable MobileNet-V5 graph (training form): the same features as llama.cpp's graph up to f16
// rounding, and gradients — LoRA on 1×1 convs, depthwise and 3×3 kernels, layer scales, the fusion adapter —
// equal to central finite differences at sampled coordinates.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Context,
  Graph,
  GradientState,
  Ops,
  buildBackward,
  getBackend,
  markTrainable,
  type Tensor,
} from "../../lib/engine/index.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { dequantize } from "../../lib/engine/quant.js";
import { castF32, floatBytesToF32 } from "../../lib/models/cast.js";
import { MobileNetV5Model } from "../../lib/models/vision/mobilenetv5-model.js";
import { randomMobileNetV5Mmproj, type MobileNetV5Arch } from "../../lib/models/vision/mobilenetv5-random.js";
import {
  buildMobileNetV5Trainable,
  mobileNetV5LinearNames,
} from "../../lib/models/vision/mobilenetv5-trainable.js";
import type { LinearFn } from "../../lib/models/decoder.js";

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

function withOneThread<T>(f: () => T): T {
  const backend = getBackend();
  const threads = backend.threads;
  backend.setThreads(1);
  try {
    return f();
  } finally {
    backend.setThreads(threads);
  }
}

test("the training graph gives llama.cpp's features up to f16 rounding (256 and 512 px)", () =>
  withOneThread(() => {
    for (const S of [256, 512]) {
      const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: S, seed: 5 });
      const m = MobileNetV5Model.fromTensors(config, tensors);
      const ctx = new Context({ maxTensors: 8192, graphSize: 8192 });
      try {
        const px = Float32Array.from({ length: S * S * 3 }, (_, i) => 0.5 + 0.4 * Math.sin(i * 0.013));
        const ref = m.encode(px, { featuresOnly: true });
        const ops = new Ops(ctx);
        const pixels = ctx.input(GgmlType.F32, [S, S, 3, 1]);
        const f = buildMobileNetV5Trainable(ops, config, m.weights, { pixels });
        const out = ops.reshape(ops.cont(ops.permute(f, [1, 2, 0, 3])), [f.ne[2], f.ne[0] * f.ne[1]]);
        const g = Graph.build(ctx, [out]);
        g.allocate();
        pixels.set(px);
        g.compute();
        const err = relErr(out.f32(), ref);
        console.log(`# training vs inference graph, ${S} px: ${err.toExponential(2)}`);
        // llama.cpp rounds depthwise/f16-kernel inputs to f16 and uses a GELU table; the training form is f32
        assert.ok(err < 5e-3 && err > 0, `${S} px: ${err}`);
        g.free();
      } finally {
        ctx.free();
        m.dispose();
      }
    }
  }));

test("gradients through the whole encoder equal finite differences (LoRA, kernels, scales, adapter)", () =>
  withOneThread(() => {
    const S = 256;
    // a narrow tower, every kernel in f32: an f16 kernel makes ggml round the activations it multiplies to
    // f16, and finite differences of such a loss are noise (DESIGN §8)
    const { config, tensors } = randomMobileNetV5Mmproj({
      projectionDim: 16,
      imageSize: S,
      seed: 17,
      arch: microArch(),
    });
    const f32Tensors = new Map(
      [...tensors].map(([n, t]) => [
        n,
        { ...t, type: GgmlType.F32, data: castF32(floatBytesToF32(t.type, t.data), GgmlType.F32) },
      ]),
    );
    const m = MobileNetV5Model.fromTensors(config, f32Tensors);
    assert.ok(mobileNetV5LinearNames(config).includes("v.blk.1.0.pw_exp.conv"));
    assert.ok(mobileNetV5LinearNames(config).includes("v.blk.3.1.attn.value.proj"));
    // f32 trainable copies of kernels of every kind, plus LoRA pairs on two 1×1 convs
    const full = [
      "v.conv_stem.conv.weight",
      "v.blk.0.1.conv_exp.weight",
      "v.blk.1.0.dw_mid.conv.weight",
      "v.blk.2.1.attn.key.down_conv.weight",
      "v.blk.2.2.layer_scale.gamma",
      "v.msfa.ffn.pw_exp.conv.weight",
    ];
    const loraOn = ["v.blk.1.0.pw_exp.conv", "v.blk.3.1.attn.query.proj"];
    const pctx = new Context({ maxTensors: 32 });
    const copies = new Map<string, Tensor>();
    for (const n of full) copies.set(n, pctx.f32(m.weights.get(n).ne, n));
    const lora = new Map<string, { a: Tensor; b: Tensor }>();
    for (const n of loraOn) {
      const [inDim, outDim] = [m.weights.get(`${n}.weight`).ne[2], m.weights.get(`${n}.weight`).ne[3]];
      lora.set(n, { a: pctx.f32([inDim, 2], `${n}.a`), b: pctx.f32([2, outDim], `${n}.b`) });
    }
    const params = [...copies.values(), ...[...lora.values()].flatMap((l) => [l.a, l.b])];
    const ctx = new Context({ maxTensors: 32768, graphSize: 16384, grads: true });
    try {
      const ops = new Ops(ctx);
      const w = {
        get: (n: string) => copies.get(n) ?? m.weights.get(n),
        has: (n: string) => m.weights.has(n),
      };
      const flinear =
        (_o: Ops): LinearFn =>
        (o, name, wt, x) => {
          const base = o.mulMat(wt, x);
          const l = lora.get(name);
          return l ? o.add(base, o.mulMat(l.b, o.mulMat(l.a, x))) : base;
        };
      const linear = flinear(ops);
      const pixels = ctx.input(GgmlType.F32, [S, S, 3, 1]);
      const probe = ctx.input(GgmlType.F32, [16, 16, config.nEmbd, 1]);
      const feats = buildMobileNetV5Trainable(ops, config, w, { pixels, linear });
      const loss = ops.sum(ops.mul(feats, probe));
      markTrainable(params, loss);
      const state = new GradientState(params);
      const graph = Graph.build(ctx, [loss], { size: 16384, grads: true });
      buildBackward(graph, loss, state);
      pctx.allocate();
      graph.allocate();
      const values = new Map<Tensor, Float32Array>();
      for (const [n, t] of copies) {
        const src = m.weights.get(n);
        values.set(t, dequantize(src.type, src.bytes(), src.nelements));
      }
      let seed = 3;
      const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
      for (const l of lora.values()) {
        values.set(
          l.a,
          Float32Array.from({ length: l.a.nelements }, () => rnd() * 0.3),
        );
        values.set(
          l.b,
          Float32Array.from({ length: l.b.nelements }, () => rnd() * 0.3),
        );
      }
      for (const [t, v] of values) t.set(v);
      const px = Float32Array.from({ length: S * S * 3 }, (_, i) => 0.5 + 0.4 * Math.sin(i * 0.021));
      const pr = Float32Array.from({ length: probe.nelements }, () => rnd());
      state.zero();
      pixels.set(px);
      probe.set(pr);
      graph.compute();
      // finite differences on a forward-only copy of the graph (same parameters, its own activations)
      const fctx = new Context({ maxTensors: 8192, graphSize: 8192 });
      const fops = new Ops(fctx);
      const fpixels = fctx.input(GgmlType.F32, [S, S, 3, 1]);
      const fprobe = fctx.input(GgmlType.F32, probe.ne);
      const floss = fops.sum(
        fops.mul(
          buildMobileNetV5Trainable(fops, config, w, { pixels: fpixels, linear: flinear(fops) }),
          fprobe,
        ),
      );
      const fgraph = Graph.build(fctx, [floss]);
      fgraph.allocate();
      const run = () => {
        fpixels.set(px);
        fprobe.set(pr);
        fgraph.compute();
        return floss.scalar();
      };
      const analytic = state.accumulators.map((a) => a.f32());
      const worst: string[] = [];
      let maxErr = 0;
      params.forEach((p, pi) => {
        const v = values.get(p)!;
        const g = analytic[pi];
        assert.ok(g.every(Number.isFinite), `${p.name}: finite gradient`);
        // the 2 largest analytic entries and one at the first quartile
        const order = [...g.keys()].sort((x, y) => Math.abs(g[y]) - Math.abs(g[x]));
        for (const j of [order[0], order[1], order[Math.floor(order.length / 4)]]) {
          const orig = v[j];
          const eps = 1e-2 * Math.max(1, Math.abs(orig));
          v[j] = orig + eps;
          p.set(v);
          const up = run();
          v[j] = orig - eps;
          p.set(v);
          const down = run();
          v[j] = orig;
          p.set(v);
          const fd = (up - down) / (2 * eps);
          const scale = Math.max(Math.abs(g[order[0]]), 1e-6);
          const err = Math.abs(fd - g[j]) / scale;
          if (err > maxErr) maxErr = err;
          if (err > 1e-2) worst.push(`${p.name}[${j}]: analytic ${g[j]}, fd ${fd}`);
        }
      });
      console.log(
        `# encoder gradients vs finite differences: max error ${maxErr.toExponential(2)} of the largest entry`,
      );
      assert.deepEqual(worst, []);
      state.free();
      graph.free();
      fgraph.free();
      fctx.free();
    } finally {
      ctx.free();
      pctx.free();
      m.dispose();
    }
  }));

/** Every block kind with few channels (the gradient check computes the tower ~70 times). */
function microArch(): MobileNetV5Arch {
  return {
    stem: 4,
    stages: [
      [
        { kind: "edge", mid: 8, out: 8 },
        { kind: "edge", mid: 8, out: 8 },
      ],
      [
        { kind: "uir", dwStart: 3, mid: 12, dwMid: 5, out: 8 },
        { kind: "uir", dwStart: 0, mid: 12, dwMid: 0, out: 8 },
      ],
      [
        { kind: "uir", dwStart: 5, mid: 16, dwMid: 5, out: 8 },
        { kind: "mqa", nHead: 2, headDim: 4, kvKernel: 3 },
        { kind: "uir", dwStart: 0, mid: 16, dwMid: 0, out: 8 },
      ],
      [
        { kind: "uir", dwStart: 5, mid: 16, dwMid: 5, out: 12 },
        { kind: "mqa", nHead: 2, headDim: 4, kvKernel: 3 },
        { kind: "uir", dwStart: 3, mid: 16, dwMid: 0, out: 12 },
      ],
    ],
    msfaMid: 24,
  };
}
