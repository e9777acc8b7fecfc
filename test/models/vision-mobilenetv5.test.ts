// Gemma 3n vision (MobileNet-V5 + projector) against llama.cpp's own clip code (tools/mtmd compiled from the
// bundled release by test/helpers/llama-mtmd.ts): the same tiny random gemma3nv mmproj and the same preprocessed
// pixels must give the same soft tokens (issue 8: ≤ 1e-3 relative). Controls show the comparison can fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { openGguf } from "../../lib/gguf/index.js";
import { castF32, floatBytesToF32 } from "../../lib/models/cast.js";
import { readMobileNetV5Config } from "../../lib/models/vision/mobilenetv5-config.js";
import {
  MobileNetV5Model,
  saveMobileNetV5Mmproj,
  writeRandomGemma3nMmproj,
} from "../../lib/models/vision/mobilenetv5-model.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { randomMobileNetV5Mmproj } from "../../lib/models/vision/mobilenetv5-random.js";
import { InputError } from "../../lib/util/errors.js";
import { sharedDir } from "../../lib/util/paths.js";
import { clipEncode, clipHarnessUnavailable, clipInfo, clipPreprocessFile } from "../helpers/llama-mtmd.js";

const noHarness = clipHarnessUnavailable();
const shared = sharedDir();
const dir = mkdtempSync(join(tmpdir(), "tunekit-mnv5-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Largest |a − b| over the largest |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** A smooth synthetic image with edges (planar [S, S, 3], values in [0, 1]). */
function syntheticPixels(S: number, phase: number): Float32Array {
  const px = new Float32Array(S * S * 3);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        const v = 0.5 + 0.4 * Math.sin((x * (c + 1)) / 17 + phase) * Math.cos(y / 23 - c) + (x > y ? 0.1 : 0);
        px[x + S * y + S * S * c] = v;
      }
  return px;
}

async function tinyMmproj(name: string, o: { imageSize?: number; projectionDim?: number; seed: number }) {
  const made = randomMobileNetV5Mmproj({
    projectionDim: o.projectionDim ?? 64,
    imageSize: o.imageSize,
    seed: o.seed,
  });
  const path = join(dir, name);
  await saveMobileNetV5Mmproj(path, made.config, made.tensors);
  return { path, ...made };
}

test("the tiny mmproj has every block kind and llama.cpp reads it as gemma3nv with 256 tokens", async () => {
  const { path, config } = await tinyMmproj("kinds.gguf", { seed: 1 });
  const kinds = config.stages.map((s) => s.map((b) => b.kind));
  assert.deepEqual(kinds, [
    ["edge", "edge"],
    ["uir", "uir"],
    ["uir", "mqa", "uir"],
    ["uir", "mqa", "uir"],
  ]);
  const file = openGguf(path);
  try {
    const back = readMobileNetV5Config(file);
    assert.equal(back.imageSize, 512);
    assert.equal(back.patchSize, 2);
    assert.deepEqual(back.imageMean, [0, 0, 0]);
    assert.deepEqual(
      back.stages.map((s) => s.map((b) => b.prefix)),
      config.stages.map((s) => s.map((b) => b.prefix)),
    );
    // the layouts convert_hf_to_gguf.py gives: conv kernels [KW, KH, Cin, Cout], depthwise [K, K, 1, C],
    // layer scale and stem bias unsqueezed to [1, 1, C, 1], projection [vision, text]
    assert.deepEqual(file.tensor("v.conv_stem.conv.weight")!.shape, [3, 3, 3, 8]);
    assert.equal(file.tensor("v.conv_stem.conv.weight")!.type, GgmlType.F32);
    assert.deepEqual(file.tensor("v.conv_stem.conv.bias")!.shape, [1, 1, 8, 1]);
    assert.deepEqual(file.tensor("v.blk.1.0.dw_mid.conv.weight")!.shape, [5, 5, 1, 48]);
    assert.equal(file.tensor("v.blk.1.0.dw_mid.conv.weight")!.type, GgmlType.F16);
    assert.deepEqual(file.tensor("v.blk.2.1.attn.key.down_conv.weight")!.shape, [3, 3, 1, 32]);
    assert.deepEqual(file.tensor("v.blk.2.1.attn.query.proj.weight")!.shape, [1, 1, 32, 16]);
    assert.deepEqual(file.tensor("v.blk.3.2.layer_scale.gamma")!.shape, [1, 1, 48, 1]);
    assert.deepEqual(file.tensor("mm.input_projection.weight")!.shape, [64, 64]);
  } finally {
    file.close();
  }
});

test(
  "soft tokens equal llama.cpp's clip_image_encode (512 px: stage-2 map pooled 32→16)",
  { skip: noHarness },
  async () => {
    const { path, config } = await tinyMmproj("parity-512.gguf", { seed: 7 });
    const info = clipInfo(path);
    assert.deepEqual(info, { nTokens: 256, nEmbd: 64, imageSize: 512 });
    const px = syntheticPixels(config.imageSize, 0.3);
    const ref = clipEncode(path, px, config.imageSize, { threads: 1 });
    const model = MobileNetV5Model.load(path);
    try {
      const out = model.encode(px);
      assert.equal(out.length, 256 * 64);
      const err = relErr(out, ref.embeddings);
      console.log(`# gemma3nv 512 px: max |Δ| / max |ref| = ${err.toExponential(2)}`);
      assert.ok(err <= 1e-3, `relative error ${err}`);
      // control: another image gives clearly different tokens, so the comparison can fail
      assert.ok(relErr(model.encode(syntheticPixels(config.imageSize, 1.7)), ref.embeddings) > 0.05);
    } finally {
      model.dispose();
    }
  },
);

test(
  "soft tokens equal llama.cpp's at 256 px (no pooling); a changed layer scale does not",
  { skip: noHarness },
  async () => {
    const { path, config, tensors } = await tinyMmproj("parity-256.gguf", { imageSize: 256, seed: 11 });
    const px = syntheticPixels(256, 0.9);
    const ref = clipEncode(path, px, 256, { threads: 1 });
    const model = MobileNetV5Model.load(path);
    try {
      const err = relErr(model.encode(px), ref.embeddings);
      console.log(`# gemma3nv 256 px: max |Δ| / max |ref| = ${err.toExponential(2)}`);
      assert.ok(err <= 1e-3, `relative error ${err}`);
    } finally {
      model.dispose();
    }
    // control: changing one block's layer scale moves the output away from llama.cpp's
    const changed = new Map(tensors);
    const ls = tensors.get("v.blk.2.1.layer_scale.gamma")!;
    changed.set("v.blk.2.1.layer_scale.gamma", {
      ...ls,
      data: castF32(new Float32Array(ls.data.byteLength / 4).fill(3), GgmlType.F32),
    });
    const m2 = MobileNetV5Model.fromTensors(config, changed);
    try {
      assert.ok(relErr(m2.encode(px), ref.embeddings) > 1e-2);
    } finally {
      m2.dispose();
    }
  },
);

test(
  "a coffee-leaf photo preprocessed by llama.cpp encodes to the same soft tokens",
  { skip: noHarness || (!shared && "../shared is absent") },
  async () => {
    const { path, config } = await tinyMmproj("photo.gguf", { imageSize: 256, seed: 3 });
    const images = join(shared!, "data", "images", "coffee-leaf", "images");
    const photo = join(
      images,
      readdirSync(images)
        .filter((f) => f.endsWith(".jpg"))
        .sort()[0],
    );
    const px = clipPreprocessFile(path, photo);
    assert.equal(px.length, config.imageSize * config.imageSize * 3);
    // gemma3nv's mean 0 / std 1: pixels stay in [0, 1]
    assert.ok(px.every((v) => v >= 0 && v <= 1));
    const ref = clipEncode(path, px, config.imageSize, { threads: 1 });
    const model = MobileNetV5Model.load(path);
    try {
      const err = relErr(model.encode(px), ref.embeddings);
      console.log(`# gemma3nv coffee-leaf photo: max |Δ| / max |ref| = ${err.toExponential(2)}`);
      assert.ok(err <= 1e-3, `relative error ${err}`);
    } finally {
      model.dispose();
    }
  },
);

test("a batch of two images gives each image's own tokens", () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: 256, seed: 5 });
  const model = MobileNetV5Model.fromTensors(config, tensors);
  try {
    const a = syntheticPixels(256, 0.1);
    const b = syntheticPixels(256, 2.2);
    const both = new Float32Array(a.length * 2);
    both.set(a);
    both.set(b, a.length);
    const ab = model.encode(both);
    const n = 256 * 32;
    assert.equal(ab.length, 2 * n);
    assert.ok(relErr(ab.subarray(0, n), model.encode(a)) < 1e-5);
    assert.ok(relErr(ab.subarray(n), model.encode(b)) < 1e-5);
  } finally {
    model.dispose();
  }
});

test("bad inputs are refused before ggml sees them", async () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: 256, seed: 5 });
  assert.throws(
    () => randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: 300, seed: 1 }),
    /multiple of 256/,
  );
  const model = MobileNetV5Model.fromTensors(config, tensors);
  try {
    assert.throws(() => model.encode(new Float32Array(100)), InputError);
  } finally {
    model.dispose();
  }
  // a tensor with the wrong byte count
  const broken = new Map(tensors);
  const t = tensors.get("v.msfa.norm.weight")!;
  broken.set("v.msfa.norm.weight", { ...t, data: t.data.subarray(4) });
  assert.throws(() => MobileNetV5Model.fromTensors(config, broken), /bytes do not hold/);
  // a mismatched projection width is an EngineError from the projector's checks, not an abort
  const wrongProj = new Map(tensors);
  const p = tensors.get("mm.input_projection.weight")!;
  wrongProj.set("mm.input_projection.weight", { ...p, shape: [16, 64] });
  const m3 = MobileNetV5Model.fromTensors(config, wrongProj);
  try {
    assert.throws(() => m3.encode(syntheticPixels(256, 0)), /input_projection/);
  } finally {
    m3.dispose();
  }
  // an SigLIP-style mmproj is not a gemma3nv one
  const path = join(dir, "not-gemma3nv.gguf");
  await saveMobileNetV5Mmproj(path, config, tensors);
  const { writeGguf, gguf } = await import("../../lib/gguf/index.js");
  const other = join(dir, "gemma3.gguf");
  await writeGguf(other, { metadata: { "clip.projector_type": gguf.str("gemma3") }, tensors: [] });
  const f = openGguf(other);
  try {
    assert.throws(() => readMobileNetV5Config(f), /not gemma3nv/);
  } finally {
    f.close();
  }
});

test(
  "a tiny gemma3n text model and its random tower agree on the width llama.cpp checks",
  { skip: noHarness || (!shared && "../shared is absent") },
  async () => {
    const modelOut = join(dir, "tiny-gemma3n.gguf");
    // new-model --arch gemma3n --vision
    const lm = await newModelGguf({ arch: "gemma3n", seed: 1, out: modelOut, vocab: 512, vision: true });
    const r = lm.mmproj!;
    assert.equal(r.out, join(dir, "mmproj-tiny-gemma3n.gguf"));
    assert.deepEqual([r.imageSize, r.patchSize, r.imageTokens, r.layers], [512, 2, 256, 10]);
    await assert.rejects(
      newModelGguf({
        arch: "gemma3n",
        seed: 1,
        out: join(dir, "x.gguf"),
        vocab: 512,
        vision: { patchSize: 4 },
      }),
      /takes only an image size/,
    );
    // the same tower as writeRandomGemma3nMmproj makes directly
    const again = await writeRandomGemma3nMmproj(join(dir, "again.gguf"), { projectionDim: lm.dim, seed: 1 });
    assert.equal(again.bytes, r.bytes);
    assert.deepEqual(clipInfo(r.out), { nTokens: 256, nEmbd: lm.dim, imageSize: 512 });
  },
);

test("weights write back unchanged (snapshot → mmproj), and f32 depthwise kernels are held as f16", async () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: 256, seed: 8 });
  const model = MobileNetV5Model.fromTensors(config, tensors);
  const px = syntheticPixels(256, 0.5);
  try {
    const path = join(dir, "snapshot.gguf");
    await saveMobileNetV5Mmproj(path, config, model.weights.snapshot());
    const file = openGguf(path);
    try {
      for (const [name, t] of tensors) {
        const info = file.tensor(name)!;
        assert.deepEqual([info.type, info.shape], [t.type, t.shape], name);
        assert.deepEqual(file.tensorData(name), t.data, name);
      }
    } finally {
      file.close();
    }
    // the same kernels stored as f32 (e.g. convert_hf_to_gguf --outtype f32) give the same tokens
    const f32 = new Map(tensors);
    for (const [name, t] of tensors)
      if (t.shape.length === 4 && t.shape[2] === 1 && t.shape[0] > 1)
        f32.set(name, {
          ...t,
          type: GgmlType.F32,
          data: castF32(floatBytesToF32(t.type, t.data), GgmlType.F32),
        });
    const m2 = MobileNetV5Model.fromTensors(config, f32);
    try {
      assert.deepEqual(m2.encode(px), model.encode(px));
    } finally {
      m2.dispose();
    }
  } finally {
    model.dispose();
  }
});

test("damaged towers are refused with an error instead of a ggml abort", () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 16, imageSize: 256, seed: 21 });
  const px = syntheticPixels(256, 0.2);
  const reshaped = (name: string, shape: number[], type?: number) => {
    const t = tensors.get(name)!;
    const n = shape.reduce((a, b) => a * b, 1);
    const ty = type ?? t.type;
    const data = castF32(new Float32Array(n).fill(0.1), ty);
    return new Map(tensors).set(name, { type: ty, shape, data });
  };
  const cases: Array<[string, Map<string, ReturnType<typeof tensors.get> & object>, RegExp]> = [
    [
      "1×1 conv with the wrong input width",
      reshaped("v.blk.1.1.pw_exp.conv.weight", [1, 1, 20, 48]),
      /input channels/,
    ],
    [
      "depthwise kernel for other channels",
      reshaped("v.blk.1.0.dw_mid.conv.weight", [5, 5, 1, 40]),
      /conv_2d_dw/,
    ],
    ["norm of the wrong width", reshaped("v.blk.0.0.bn1.weight", [23]), /broadcast/],
    ["layer scale of the wrong width", reshaped("v.blk.2.2.layer_scale.gamma", [1, 1, 7, 1]), /broadcast/],
    ["value width ≠ key width", reshaped("v.blk.3.1.attn.value.proj.weight", [1, 1, 48, 4]), /key width/],
    [
      "query width not a multiple of the head",
      reshaped("v.blk.3.1.attn.query.proj.weight", [1, 1, 48, 12]),
      /multiple/,
    ],
    ["a stem for 4-channel images", reshaped("v.conv_stem.conv.weight", [3, 3, 4, 8]), /input channels/],
    ["edge block with a 5×5 expansion", reshaped("v.blk.0.1.conv_exp.weight", [5, 5, 16, 32]), /3×3/],
  ];
  for (const [what, t, re] of cases) {
    let model: MobileNetV5Model | undefined;
    assert.throws(
      () => {
        model = MobileNetV5Model.fromTensors(config, t);
        model.encode(px);
      },
      (e: Error) => re.test(e.message),
      what,
    );
    model?.dispose();
  }
});
