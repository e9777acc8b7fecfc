// Gemma 3's vision tower (SigLIP + gemma3 projector) against llama.cpp's own clip code (tools/mtmd compiled
// from the bundled source by test/helpers/llama-mtmd.ts — about a minute the first time on 2 idle cores, cached
// afterwards): output embeddings for the same preprocessed image (the target is ≤ 1e-3 relative;
// llama.cpp's numbers are reproduced exactly on the same kernels, so the tests ask ≤ 1e-6 there), the gemma3 preprocessing bit for bit,
// our mmproj files loading in clip and mtmd, batches, and gradients of the trainable graph against finite
// differences.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { hasPackedF32Gemm } from "../../lib/engine/backward-rewrite.js";
import { openGguf } from "../../lib/gguf/index.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { Context, Graph, GradientState, Ops, buildBackward, markTrainable } from "../../lib/engine/index.js";
import {
  VisionModel,
  VisionWeights,
  buildSiglipVision,
  decodeRgb,
  encodeImages,
  nImageTokens,
  preprocessImage,
  preprocessRgb,
  randomMmproj,
  readSiglipConfig,
  saveMmproj,
  siglipTensorSpecs,
  visionNodesEstimate,
  type SiglipVisionConfig,
} from "../../lib/models/vision/index.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { sharedDir } from "../../lib/util/paths.js";
import {
  clipEncode,
  clipHarnessUnavailable,
  clipInfo,
  clipPreprocessFile,
  clipPreprocessRgb,
  mtmdRun,
} from "../helpers/llama-mtmd.js";

// llama.cpp's numbers are reproduced exactly when both run ggml's prebuilt kernels; tunekit's own f32 GEMM (a
// source build on an AVX-512 CPU) sums products in another order: 1e-5-level differences, still far inside
// the 1e-3
const SAME_KERNELS = hasPackedF32Gemm() ? 1e-4 : 1e-6;

const noHarness = clipHarnessUnavailable();
const shared = sharedDir();
const LEAF = shared && join(shared, "data", "images", "coffee-leaf", "images", "1287.jpg");

const dir = mkdtempSync(join(tmpdir(), "tunekit-vision-gemma3-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Two tiny towers: 64 px / patch 8 / pool 2 (scale_factor written), and 112 px / patch 14 / pool 4 (default). */
const CASES = [
  { name: "64px-p8-pool2", opts: { textEmbd: 64, seed: 11 } },
  {
    name: "112px-p14-pool4",
    opts: {
      textEmbd: 40,
      seed: 12,
      imageSize: 112,
      patchSize: 14,
      mergeFactor: 4,
      nEmbd: 288, // head size 72, as in Gemma 3
      nFf: 80,
      nHead: 4,
    },
  },
] as const;

const files = new Map<string, { path: string; config: SiglipVisionConfig }>();
async function mmproj(i: number) {
  const c = CASES[i];
  let f = files.get(c.name);
  if (!f) {
    const { config, tensors } = randomMmproj(c.opts);
    const path = join(dir, `${c.name}.gguf`);
    await saveMmproj(path, config, tensors);
    f = { path, config };
    files.set(c.name, f);
  }
  return f;
}

/** A smooth test image with detail in every channel, normalised to about [−1, 1], planar. */
function syntheticPixels(size: number, phase: number): Float32Array {
  const n = size * size;
  const px = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        px[c * n + y * size + x] = Math.sin(0.21 * x + 0.13 * y * (c + 1) + phase + c) * 0.9;
  return px;
}

function relErr(ours: Float32Array, ref: Float32Array): number {
  assert.equal(ours.length, ref.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < ours.length; i++) {
    d = Math.max(d, Math.abs(ours[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return d / m;
}

test("mmproj metadata and tensors round-trip and match clip's names", async () => {
  const { path, config } = await mmproj(0);
  const file = openGguf(path);
  try {
    assert.equal(file.getString("general.architecture"), "clip");
    assert.equal(file.getString("clip.projector_type"), "gemma3");
    assert.equal(file.get("clip.use_gelu"), true);
    assert.equal(file.getNumber("clip.vision.projector.scale_factor"), 2);
    assert.deepEqual(readSiglipConfig(file), { ...config, eps: Math.fround(1e-6) });
    const names = file.tensors.map((t) => t.name);
    assert.deepEqual(
      names,
      siglipTensorSpecs(config).map((s) => s.name),
    );
    assert.ok(names.includes("v.blk.1.attn_out.weight") && names.includes("mm.input_projection.weight"));
    assert.deepEqual(file.tensor("mm.input_projection.weight")!.shape, [64, 48]);
    assert.deepEqual(file.tensor("v.patch_embd.weight")!.shape, [8, 8, 3, 48]);
  } finally {
    file.close();
  }
  const other = openGguf((await mmproj(1)).path);
  try {
    // llama.cpp's converter leaves the default pooling (4) out of the file; clip then uses 4
    assert.equal(other.get("clip.vision.projector.scale_factor"), undefined);
    assert.equal(readSiglipConfig(other).mergeFactor, 4);
  } finally {
    other.close();
  }
});

test("a config llama.cpp would misread is refused", () => {
  assert.throws(() => randomMmproj({ textEmbd: 64, seed: 1, nEmbd: 48, nFf: 48 }), /swap ffn_up/);
  assert.throws(() => randomMmproj({ textEmbd: 64, seed: 1, imageSize: 60 }), /multiple of the patch size/);
});

for (const [i, c] of CASES.entries())
  test(`encoder output equals llama.cpp's clip_image_encode (${c.name})`, { skip: noHarness }, async () => {
    const { path, config } = await mmproj(i);
    const info = clipInfo(path);
    assert.deepEqual(info, {
      nTokens: nImageTokens(config),
      nEmbd: config.projectionDim,
      imageSize: config.imageSize,
    });
    const model = VisionModel.load(path);
    try {
      const a = syntheticPixels(config.imageSize, 0.3);
      const b = syntheticPixels(config.imageSize, 2.1);
      const refA = clipEncode(path, a, config.imageSize).embeddings;
      const refB = clipEncode(path, b, config.imageSize).embeddings;
      const ours = model.encode(a);
      const err = relErr(ours, refA);
      console.log(`  ${c.name}: max |Δ| / max |ref| = ${err.toExponential(2)} (inference graph)`);
      assert.ok(err <= SAME_KERNELS, `inference graph: ${err}`);
      // control: the comparison tells images apart
      assert.ok(relErr(refB, refA) > 0.05);
      // a batch of two gives each image's own tokens
      const batch = model.encode(Float32Array.from([...a, ...b]));
      const per = nImageTokens(config) * config.projectionDim;
      assert.ok(relErr(batch.subarray(0, per), refA) <= SAME_KERNELS);
      assert.ok(relErr(batch.subarray(per), refB) <= SAME_KERNELS);
      // the differentiable graph (f32 patch embedding, GELU-tanh from ops with backward) meets the target too
      const train = trainingGraphOutput(config, model.weights, a);
      const errTrain = relErr(train, refA);
      console.log(`  ${c.name}: training graph ${errTrain.toExponential(2)}`);
      assert.ok(errTrain <= 1e-3, `training graph: ${errTrain}`);
      // flash attention in clip (f16 K/V) stays within the target as well
      const flash = clipEncode(path, a, config.imageSize, { flashAttention: true }).embeddings;
      assert.ok(relErr(ours, flash) <= 1e-3);
    } finally {
      model.dispose();
    }
  });

/** The encoder built with inference: false (what training uses), run forward once. */
function trainingGraphOutput(c: SiglipVisionConfig, w: VisionWeights, pixels: Float32Array): Float32Array {
  const nodes = visionNodesEstimate(c) * 2;
  const ctx = new Context({ maxTensors: nodes, graphSize: nodes });
  try {
    const ops = new Ops(ctx);
    const input = ctx.input(GgmlType.F32, [c.imageSize, c.imageSize, 3, 1], "pixels");
    const out = buildSiglipVision(ops, c, w, { pixels: input });
    const g = Graph.build(ctx, [out]);
    g.allocate();
    input.set(pixels);
    g.compute();
    const r = out.f32();
    g.free();
    return r;
  } finally {
    ctx.free();
  }
}

test("preprocessing equals clip's gemma3 preprocessing bit for bit", { skip: noHarness }, async () => {
  const { path, config } = await mmproj(1); // 112 px
  const big = (await mmproj(0)).config; // 64 px
  // synthetic non-square images: downscale (200×90), upscale (30×47), exact size (112×112)
  for (const [w, h] of [
    [200, 90],
    [30, 47],
    [112, 112],
  ]) {
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7919 + ((i / 3) | 0) * 31) % 256;
    const ours = preprocessRgb(rgb, w, h, config);
    const ref = clipPreprocessRgb(path, rgb, w, h);
    assert.deepEqual(ours, ref, `${w}×${h}`);
  }
  // a lossless PNG decoded by sharp equals stb_image's decoding, so whole-file preprocessing matches too
  const rgb = new Uint8Array(77 * 41 * 3).map((_, i) => (i * 131) % 251);
  const png = join(dir, "synthetic.png");
  writeFileSync(
    png,
    await sharp(rgb, { raw: { width: 77, height: 41, channels: 3 } })
      .png()
      .toBuffer(),
  );
  assert.deepEqual(await preprocessImage(png, config), clipPreprocessFile(path, png));
  // grey and RGBA PNGs: sharp and stb_image both replicate grey and drop alpha
  for (const channels of [1, 4] as const) {
    const raw = new Uint8Array(61 * 37 * channels).map((_, i) => (i * 71) % 256);
    const file = join(dir, `c${channels}.png`);
    writeFileSync(
      file,
      await sharp(raw, { raw: { width: 61, height: 37, channels } })
        .png()
        .toBuffer(),
    );
    assert.deepEqual(
      await preprocessImage(file, config),
      clipPreprocessFile(path, file),
      `${channels} channels`,
    );
  }
  void big;
});

test(
  "a coffee-leaf photo: preprocessing and embeddings against llama.cpp",
  { skip: noHarness || (!LEAF && "../shared is absent") },
  async () => {
    const { path, config } = await mmproj(0);
    const { rgb, width, height } = await decodeRgb(LEAF!);
    // same decoded pixels → identical input
    const ours = preprocessRgb(rgb, width, height, config);
    assert.deepEqual(ours, clipPreprocessRgb(path, rgb, width, height));
    // from the file: sharp (libjpeg-turbo) and stb_image decode JPEG slightly differently
    const fromFile = clipPreprocessFile(path, LEAF!);
    let maxLevels = 0;
    let differing = 0;
    for (let i = 0; i < ours.length; i++) {
      const levels = Math.round((Math.abs(ours[i] - fromFile[i]) * 255) / 2); // std 0.5 → 2/255 per level
      maxLevels = Math.max(maxLevels, levels);
      if (levels > 0) differing++;
    }
    console.log(
      `  JPEG decoding sharp vs stb_image: ≤ ${maxLevels} levels on ${((100 * differing) / ours.length).toFixed(1)} % of values`,
    );
    assert.ok(maxLevels <= 4 && differing / ours.length < 0.1);
    const model = VisionModel.load(path);
    try {
      const err = relErr(
        model.encode(await preprocessImage(LEAF!, config)),
        clipEncode(path, fromFile, config.imageSize).embeddings,
      );
      console.log(
        `  embeddings of the photo, sharp-decoded vs llama.cpp end to end: ${err.toExponential(2)}`,
      );
      assert.ok(err < 0.05);
    } finally {
      model.dispose();
    }
  },
);

test("gradients of the trainable encoder match finite differences", async () => {
  const { config, tensors } = randomMmproj({
    textEmbd: 16,
    seed: 5,
    imageSize: 32,
    patchSize: 8,
    nEmbd: 16,
    nFf: 24,
    nHead: 2,
    nLayer: 1,
  });
  const w = VisionWeights.fromData(config, tensors, { trainable: true });
  const checked = [
    "v.patch_embd.weight",
    "v.blk.0.attn_q.weight",
    "v.blk.0.ffn_up.bias",
    "v.post_ln.weight",
    "mm.input_projection.weight",
  ];
  const params = checked.map((n) => w.get(n));
  const nodes = visionNodesEstimate(config) * 8;
  const ctx = new Context({ maxTensors: nodes * 4, graphSize: nodes, grads: true });
  try {
    const ops = new Ops(ctx);
    const input = ctx.input(GgmlType.F32, [32, 32, 3, 1], "pixels");
    const out = buildSiglipVision(ops, config, w, { pixels: input });
    const mix = ctx.input(GgmlType.F32, out.ne, "mix");
    const loss = ops.sum(ops.mul(out, mix));
    markTrainable(params, loss);
    const state = new GradientState(params);
    const graph = Graph.build(ctx, [loss], { size: nodes, grads: true });
    buildBackward(graph, loss, state);
    graph.allocate();
    const pixels = syntheticPixels(32, 0.7);
    const mixData = Float32Array.from({ length: mix.nelements }, (_, i) => Math.cos(i * 0.91));
    const run = () => {
      input.set(pixels);
      mix.set(mixData);
      graph.compute();
      return loss.scalar();
    };
    state.zero();
    run();
    const grads = state.accumulators.map((a) => a.f32());
    // one directional derivative per parameter tensor: (L(θ + εd) − L(θ − εd)) / 2ε against Σ g·d
    const eps = 1e-2;
    for (const [pi, p] of params.entries()) {
      const x = p.f32().slice();
      const d = Float32Array.from({ length: x.length }, (_, j) => Math.sin(j * 1.7 + pi));
      const shifted = (s: number) => {
        p.set(x.map((v, j) => v + s * eps * d[j]));
        return run();
      };
      const fd = (shifted(1) - shifted(-1)) / (2 * eps);
      p.set(x);
      const g = grads[pi].reduce((acc, v, j) => acc + v * d[j], 0);
      assert.ok(Number.isFinite(g));
      assert.ok(
        Math.abs(g - fd) <= 1e-2 * Math.max(1, Math.abs(fd)),
        `${checked[pi]}: autograd ${g}, finite difference ${fd}`,
      );
      assert.ok(Math.abs(fd) > 1e-3, `${checked[pi]}: the loss does not depend on it`);
    }
    state.free();
    graph.free();
  } finally {
    ctx.free();
    w.free();
  }
});

test("saveMmproj writes trained weights that load back identically (f32) and as f16", async () => {
  const { path, config } = await mmproj(0);
  const model = VisionModel.load(path, { trainable: true });
  try {
    const px = syntheticPixels(64, 1.3);
    const before = encodeImages(config, model.weights, px);
    const again = join(dir, "again.gguf");
    await saveMmproj(again, config, model.weights);
    const reloaded = VisionModel.load(again);
    try {
      assert.deepEqual(reloaded.encode(px), before);
    } finally {
      reloaded.dispose();
    }
    const half = join(dir, "half.gguf");
    await saveMmproj(half, config, model.weights, { type: "f16" });
    const h = VisionModel.load(half);
    try {
      assert.equal(h.weights.get("v.blk.0.attn_q.weight").type, GgmlType.F16);
      const err = relErr(h.encode(px), before);
      assert.ok(err > 0 && err < 1e-2, `f16 copy: ${err}`);
      if (!noHarness) assert.ok(relErr(h.encode(px), clipEncode(half, px, 64).embeddings) <= SAME_KERNELS);
    } finally {
      h.dispose();
    }
  } finally {
    model.dispose();
  }
});

test(
  "new-model --vision writes a gemma3 LM with a matching mmproj that clip loads",
  { skip: !shared && "../shared is absent" },
  async () => {
    const out = join(dir, "lm.gguf");
    const r = await newModelGguf({
      arch: "gemma3",
      seed: 4,
      vocab: 512,
      out,
      vision: { imageSize: 112, patchSize: 14 },
    });
    assert.ok(r.mmproj);
    assert.equal(r.mmproj.out, join(dir, "mmproj-lm.gguf"));
    const model = VisionModel.load(r.mmproj.out);
    try {
      assert.equal(model.config.projectionDim, r.dim);
      assert.equal(nImageTokens(model.config), r.mmproj.imageTokens);
      if (!noHarness) assert.deepEqual(clipInfo(r.mmproj.out), { nTokens: 16, nEmbd: r.dim, imageSize: 112 });
    } finally {
      model.dispose();
    }
    await assert.rejects(
      newModelGguf({ arch: "llama", seed: 1, vocab: 512, out: join(dir, "l.gguf"), vision: true }),
      /can be made for gemma3/,
    );
  },
);

test(
  "llama.cpp's mtmd runs our gemma3 LM + mmproj end to end; its soft tokens equal ours",
  { skip: noHarness || (!shared && "../shared is absent") },
  async () => {
    const r = await tinyLm();
    const [w, h] = [100, 80];
    const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 37 + ((i / 300) | 0) * 11) % 256);
    const run = mtmdRun({
      model: r.out,
      mmproj: r.mmproj!.out,
      rgb,
      width: w,
      height: h,
      prompt: "Look: <__media__> ok",
    });
    const image = run.chunks.find((c) => c.type === "image");
    assert.deepEqual(image, { type: "image", n_tokens: 16, non_causal: true });
    const nText = run.chunks.reduce((n, c) => n + (c.type === "text" ? c.tokens.length : 0), 0);
    assert.equal(run.logits.length, nText * r.vocab);
    assert.ok(run.logits.every(Number.isFinite));
    const model = VisionModel.load(r.mmproj!.out);
    try {
      const ours = model.encode(preprocessRgb(rgb, w, h, model.config));
      const err = relErr(ours, run.imageEmbeddings);
      console.log(`  mtmd soft tokens vs ours (preprocessing + encoder): ${err.toExponential(2)}`);
      assert.ok(err <= SAME_KERNELS);
    } finally {
      model.dispose();
    }
  },
);

let lm: Awaited<ReturnType<typeof newModelGguf>> | undefined;
/** A tiny gemma3 LM (vocab 512) with a 112 px / patch 14 vision tower, made once. */
async function tinyLm() {
  lm ??= await newModelGguf({
    arch: "gemma3",
    seed: 4,
    vocab: 512,
    out: join(dir, "lm.gguf"),
    vision: { imageSize: 112, patchSize: 14 },
  });
  return lm;
}

test("a q8_0 mmproj: clip and tunekit compute the same soft tokens", { skip: noHarness }, async () => {
  const { path, config } = await mmproj(1); // width 288: attention rows are whole q8_0 blocks
  const f32 = VisionModel.load(path);
  const q8 = join(dir, "q8.gguf");
  try {
    await saveMmproj(q8, config, f32.weights, { type: "q8_0" });
  } finally {
    f32.dispose();
  }
  const model = VisionModel.load(q8);
  try {
    assert.equal(model.weights.get("v.blk.0.attn_q.weight").type, GgmlType.Q8_0);
    assert.equal(model.weights.get("v.blk.0.ffn_down.weight").type, GgmlType.F16); // rows of 80
    assert.equal(model.weights.get("mm.input_projection.weight").type, GgmlType.F16);
    const px = syntheticPixels(config.imageSize, 0.9);
    const err = relErr(model.encode(px), clipEncode(q8, px, config.imageSize).embeddings);
    assert.ok(err <= SAME_KERNELS, `q8_0: ${err}`);
  } finally {
    model.dispose();
  }
});
