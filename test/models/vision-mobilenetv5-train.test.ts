// What of Gemma 3n's vision tower can be trained on ggml: the projector (a LoRA on mm.input_projection gets
// gradients equal to finite differences) but not the MobileNet-V5 encoder (no CONV_2D/PAD/GELU backward: the
// engine refuses it before ggml would abort, and the target check refuses vision-encoder LoRA targets).
// Also: the image preprocessing shared with Gemma 3 gives llama.cpp's pixels for a gemma3nv mmproj.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Context,
  Graph,
  GradientState,
  Ops,
  buildBackward,
  getBackend,
  markTrainable,
} from "../../lib/engine/index.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { buildGemma3nProjector } from "../../lib/models/vision/gemma3n-projector.js";
import { buildMobileNetV5 } from "../../lib/models/vision/mobilenetv5.js";
import { MobileNetV5Model, saveMobileNetV5Mmproj } from "../../lib/models/vision/mobilenetv5-model.js";
import {
  checkGemma3nVisionTargets,
  openGemma3nImageEncoder,
} from "../../lib/models/vision/mobilenetv5-encoder.js";
import { randomMobileNetV5Mmproj } from "../../lib/models/vision/mobilenetv5-random.js";
import { Gemma3nVisionTrainer } from "../../lib/models/vision/mobilenetv5-train.js";
import { preprocessRgb } from "../../lib/models/vision/preprocess.js";
import { EngineError, InputError } from "../../lib/util/errors.js";
import { gradCheck } from "../engine/gradcheck.js";
import { clipHarnessUnavailable, clipPreprocessRgb } from "../helpers/llama-mtmd.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-mnv5-train-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("vision LoRA targets: 1×1 convs and the projector; depthwise/3×3 kernels and text layers are refused", () => {
  const { config } = randomMobileNetV5Mmproj({ projectionDim: 16, imageSize: 256, seed: 2 });
  assert.deepEqual(checkGemma3nVisionTargets(["mm.input_projection", "mm.input_projection.weight"], config), [
    "mm.input_projection",
  ]);
  const all = checkGemma3nVisionTargets(["vision"], config);
  assert.ok(all.includes("v.blk.0.0.conv_pwl") && all.includes("v.blk.3.1.attn.output.proj"));
  assert.ok(all.includes("v.msfa.ffn.pw_proj.conv") && all.at(-1) === "mm.input_projection");
  assert.deepEqual(checkGemma3nVisionTargets(["v.blk.2.1.attn.key.proj", "projector"], config), [
    "v.blk.2.1.attn.key.proj",
    "mm.input_projection",
  ]);
  for (const t of ["v.blk.1.0.dw_mid.conv", "v.conv_stem.conv", "blk.0.attn_q", "v.blk.9.0.pw_exp.conv"])
    assert.throws(
      () => checkGemma3nVisionTargets([t], config),
      (e: Error) => e instanceof InputError && /not a linear layer/.test(e.message),
      t,
    );
});

test("backward through the encoder is refused by the engine (no abort)", () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: 256, seed: 2 });
  // the stem kernel as a trainable f32 parameter
  const pctx = new Context({ maxTensors: 4 });
  const stem = pctx.f32(tensors.get("v.conv_stem.conv.weight")!.shape, "stem");
  const model = MobileNetV5Model.fromTensors(config, tensors);
  const ctx = new Context({ maxTensors: 8192, graphSize: 8192, grads: true });
  try {
    const ops = new Ops(ctx);
    const w = {
      get: (n: string) => (n === "v.conv_stem.conv.weight" ? stem : model.weights.get(n)),
      has: (n: string) => model.weights.has(n),
    };
    const pixels = ctx.input(GgmlType.F32, [256, 256, 3, 1]);
    const loss = ops.sum(buildGemma3nProjector(ops, config, w, buildMobileNetV5(ops, config, w, { pixels })));
    markTrainable([stem], loss);
    const state = new GradientState([stem]);
    const graph = Graph.build(ctx, [loss], { size: 8192, grads: true });
    assert.throws(
      () => buildBackward(graph, loss, state),
      (e: Error) => e instanceof EngineError && /no gradient for (CONV_2D|PAD|unary gelu)/.test(e.message),
    );
    state.free();
  } finally {
    ctx.free();
    model.dispose();
    pctx.free();
  }
});

test("a LoRA on mm.input_projection gets the finite-difference gradients (encoder features constant)", () => {
  const C = 8;
  const P = 8;
  const r = 2;
  // a tiny graph computed ~70 times: one thread avoids the barrier cost on a busy machine
  const backend = getBackend();
  const threads = backend.threads;
  backend.setThreads(1);
  const { config, tensors } = randomMobileNetV5Mmproj({
    projectionDim: P,
    nEmbd: C,
    imageSize: 256,
    seed: 9,
  });
  const model = MobileNetV5Model.fromTensors(config, tensors);
  let feats: ReturnType<Context["f32"]> | undefined;
  const featData = Float32Array.from({ length: 4 * 4 * C }, (_, i) => Math.sin(i * 0.37) * 2);
  try {
    const { relErr, perInput } = gradCheck({
      shapes: [
        [C, r],
        [r, P],
      ],
      build: (ops, [a, b], ctx) => {
        feats = ctx.input(GgmlType.F32, [4, 4, C, 1], "features");
        const lora = (o: Ops, _name: string, wt: typeof a, x: typeof a) =>
          o.add(o.mulMat(wt, x), o.scale(o.mulMat(b, o.mulMat(a, x)), 2));
        return buildGemma3nProjector(ops, config, model.weights, feats, lora);
      },
      fill: () => feats!.set(featData),
      init: (_i, n, rnd) => Float32Array.from({ length: n }, () => rnd() * 0.5),
      eps: 1e-2,
    });
    assert.ok(relErr < 5e-3, `gradient relative error ${relErr} (A ${perInput[0]}, B ${perInput[1]})`);
  } finally {
    backend.setThreads(threads);
    model.dispose();
  }
});

test(
  "preprocessing for a gemma3nv mmproj (mean 0, std 1) gives llama.cpp's pixels; the encoder adapter uses it",
  { skip: clipHarnessUnavailable() },
  async () => {
    const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: 256, seed: 4 });
    const path = join(dir, "pre.gguf");
    await saveMobileNetV5Mmproj(path, config, tensors);
    // a 300×200 gradient image with a hard edge: downscaled and padded to 256×256
    const W = 300;
    const H = 200;
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < 3; c++)
          rgb[3 * (x + W * y) + c] = (x * (c + 1) + (y > 100 ? 90 : 0) + 7 * c) % 256;
    const ours = preprocessRgb(rgb, W, H, config);
    const ref = clipPreprocessRgb(path, rgb, W, H);
    assert.equal(ours.length, 3 * 256 * 256);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - ref[i]));
    assert.ok(maxDiff < 1e-6, `max |Δ| ${maxDiff}`);
    const enc = openGemma3nImageEncoder(path);
    try {
      assert.equal(enc.image.tokensPerImage, 256);
      assert.equal(enc.bidirectional, false);
      assert.equal(enc.pixelsPerImage, ours.length);
      assert.equal(enc.encode(ours).length, 256 * 32);
    } finally {
      enc.dispose();
    }
  },
);

test("encoder LoRA and full fine-tuning get gradients in the step graph; the merged mmproj runs in llama.cpp's graph", async () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 16, imageSize: 256, seed: 2 });
  const model = MobileNetV5Model.fromTensors(config, tensors);
  const backend = getBackend();
  const threads = backend.threads;
  backend.setThreads(1);
  const px = Float32Array.from({ length: 3 * 256 * 256 }, (_, i) => ((i * 7) % 251) / 251);
  const rel = (a: Float32Array, b: Float32Array) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num = Math.max(num, Math.abs(a[i] - b[i]));
      den = Math.max(den, Math.abs(b[i]));
    }
    return num / den;
  };
  const base = { r: 2, alpha: 4, dropout: 0, rslora: false, projector: false, seed: 1 };
  try {
    for (const full of [false, true]) {
      const trainer = new Gemma3nVisionTrainer(model, {
        ...base,
        full,
        loraLayers: ["v.blk.1.0.pw_exp.conv", "v.blk.3.1.attn.value.proj"],
      });
      const ctx = new Context({ maxTensors: 32768, graphSize: 16384, grads: true });
      try {
        assert.ok(trainer.encoderTrains);
        const params = trainer.params();
        // LoRA B away from zero so that A gets a gradient and the merge changes something
        for (const p of params.filter((t) => t.name.endsWith("lora_b")))
          p.set(Float32Array.from({ length: p.nelements }, (_, i) => Math.cos(i) * 0.5));
        const ops = new Ops(ctx);
        const sv = trainer.stepVision(1);
        const pixels = ctx.input(GgmlType.F32, sv.pixelShape);
        const tokens = sv.build(ops, pixels, []);
        const loss = ops.sum(ops.sqr(tokens));
        markTrainable(params, loss);
        const state = new GradientState(params);
        const graph = Graph.build(ctx, [loss], { size: 16384, grads: true });
        buildBackward(graph, loss, state);
        graph.allocate();
        pixels.set(px);
        state.zero();
        graph.compute();
        const nonZero = state.accumulators.filter((a) => a.f32().some((v) => v !== 0)).length;
        assert.ok(state.accumulators.every((a) => a.f32().every(Number.isFinite)));
        // every LoRA tensor, and (full) nearly every tower tensor, gets a gradient (mm.embedding is unused)
        assert.ok(
          nonZero >= params.length - (full ? 3 : 0),
          `${nonZero} of ${params.length} gradients non-zero`,
        );
        // the hooked training-form tokens vs the merged mmproj through llama.cpp's graph
        const hooked = sv.build(ops, pixels);
        const fwd = Graph.build(ctx, [hooked], { size: 8192 });
        fwd.allocate();
        pixels.set(px);
        fwd.compute();
        const want = hooked.f32();
        const path = join(dir, `trained-${full}.gguf`);
        await trainer.saveMmproj(path);
        const merged = MobileNetV5Model.load(path);
        try {
          const got = merged.encode(px);
          console.log(
            `# full=${full}: merged (llama.cpp graph) vs LoRA hook (training graph) ${rel(got, want).toExponential(2)}`,
          );
          assert.ok(rel(got, want) < 1e-2, `${rel(got, want)}`);
          assert.ok(rel(model.encode(px), want) > 5e-2, "the LoRA changes the tokens");
        } finally {
          merged.dispose();
        }
        state.free();
        graph.free();
        fwd.free();
      } finally {
        ctx.free();
        trainer.free();
      }
    }
    const idle = new Gemma3nVisionTrainer(model, { ...base, full: false, loraLayers: [] });
    assert.equal(idle.trains, false);
    idle.free();
  } finally {
    backend.setThreads(threads);
    model.dispose();
  }
});

test("projector LoRA + projector tensors train in a step graph with the encoder inside; the merge is exact", async () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 16, imageSize: 256, seed: 6 });
  const model = MobileNetV5Model.fromTensors(config, tensors);
  const backend = getBackend();
  const threads = backend.threads;
  backend.setThreads(1);
  const trainer = new Gemma3nVisionTrainer(model, {
    loraLayers: ["mm.input_projection"],
    r: 2,
    alpha: 4,
    dropout: 0,
    rslora: false,
    full: false,
    projector: true,
    seed: 3,
  });
  const ctx = new Context({ maxTensors: 16384, graphSize: 16384, grads: true });
  try {
    assert.equal(trainer.params().length, 4);
    // a LoRA B away from zero, so that A gets a gradient too and the merge has something to merge
    const params = trainer.params();
    const bTensor = params[3];
    bTensor.set(Float32Array.from({ length: bTensor.nelements }, (_, i) => Math.sin(i) * 0.5));
    const ops = new Ops(ctx);
    const sv = trainer.stepVision(1);
    assert.equal(sv.bidirectional, false);
    const pixels = ctx.input(GgmlType.F32, sv.pixelShape, "pixels");
    const target = ctx.input(GgmlType.F32, [16, 256], "target");
    const tokens = sv.build(ops, pixels, []);
    const loss = ops.sum(ops.sqr(ops.sub(tokens, target)));
    markTrainable(params, loss);
    const state = new GradientState(params);
    const graph = Graph.build(ctx, [loss], { size: 16384, grads: true });
    buildBackward(graph, loss, state);
    graph.allocate();
    const px = Float32Array.from({ length: sv.pixelsPerImage }, (_, i) => ((i * 13) % 255) / 255);
    pixels.set(px);
    target.set(new Float32Array(16 * 256).fill(0.25));
    state.zero();
    graph.compute();
    for (const [i, acc] of state.accumulators.entries()) {
      const g = acc.f32();
      assert.ok(g.every(Number.isFinite), `gradient ${i} finite`);
      assert.ok(
        g.some((v) => v !== 0),
        `gradient ${i} non-zero`,
      );
    }
    state.free();
    graph.free();

    // the merged mmproj (LoRA folded into an f32 projection) encodes as the model + hook does
    const withHook = MobileNetV5Model.fromTensors(config, trainer.mergedTensors());
    const path = join(dir, "trained.gguf");
    await trainer.saveMmproj(path);
    const merged = MobileNetV5Model.load(path);
    try {
      const hooked = model.encode(px, { linear: trainer.linear() });
      const plain = model.encode(px);
      const m = merged.encode(px);
      const rel = (a: Float32Array, b: Float32Array) => {
        let num = 0;
        let den = 0;
        for (let i = 0; i < a.length; i++) {
          num = Math.max(num, Math.abs(a[i] - b[i]));
          den = Math.max(den, Math.abs(b[i]));
        }
        return num / den;
      };
      console.log(
        `# merged vs LoRA hook: ${rel(m, hooked).toExponential(2)}; LoRA effect ${rel(plain, hooked).toExponential(2)}`,
      );
      // the hook multiplies the f16 projection (ggml rounds x to f16 there), the merge is f32
      assert.ok(rel(m, hooked) < 5e-3, `merged vs hooked ${rel(m, hooked)}`);
      assert.ok(rel(plain, hooked) > 5e-2, `the LoRA changes the tokens (${rel(plain, hooked)})`);
      assert.deepEqual(withHook.encode(px), m);
    } finally {
      merged.dispose();
      withHook.dispose();
    }
  } finally {
    backend.setThreads(threads);
    ctx.free();
    trainer.free();
    model.dispose();
  }
});
