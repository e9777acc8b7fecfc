// Image+text fine-tuning through the trainer (train with an mmproj): gradients reach the vision tower and
// the projector, the run writes an mmproj llama.cpp-shaped like its input, vision LoRA merges exactly, and
// a tiny model learns to name the class of images it never saw.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { newModelGguf } from "../../lib/models/new-model.js";
import { Model } from "../../lib/models/model.js";
import { VisionModel, randomMmproj, saveMmproj } from "../../lib/models/vision/index.js";
import { DEFAULT_MODEL } from "../../lib/pipeline/default-model.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";
import { resolveTrainConfig } from "../../lib/train/config.js";
import { train } from "../../lib/train/trainer.js";
import { evalImageQuestions } from "../../lib/multimodal/image-eval.js";
import { modelRender } from "../../lib/multimodal/rows.js";
import { siglipEncoder, splitVisionTargets, VisionTrainer } from "../../lib/multimodal/vision.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-mm-train-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Noisy images whose colour is the class: "red" leaves reddish, "green" greenish (seeded). */
async function syntheticImages(n: number, split: string, seed: number): Promise<string> {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const rows: string[] = [];
  mkdirSync(join(dir, split), { recursive: true });
  for (let i = 0; i < n; i++) {
    const label = i % 2 ? "red" : "green";
    const px = Buffer.alloc(32 * 32 * 3);
    const base = label === "red" ? [170, 90, 60] : [80, 150, 70];
    for (let p = 0; p < 32 * 32; p++)
      for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.max(0, Math.min(255, base[c]! + (rand() - 0.5) * 120));
    const file = join(dir, split, `${i}.png`);
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
      .png()
      .toFile(file);
    rows.push(
      JSON.stringify({
        messages: [
          {
            role: "user",
            content: [
              { type: "image", path: `${i}.png` },
              { type: "text", text: "Colour?" },
            ],
          },
          { role: "assistant", content: label },
        ],
      }),
    );
  }
  const jsonl = join(dir, split, "data.jsonl");
  writeFileSync(jsonl, rows.join("\n") + "\n");
  return jsonl;
}

async function tinyModels(): Promise<{ lm: string; mmproj: string }> {
  const lm = join(dir, "lm.gguf");
  await newModelGguf({
    arch: "gemma3",
    tokenizerFrom: DEFAULT_MODEL,
    dim: 32,
    layers: 6,
    heads: 2,
    kvHeads: 1,
    headDim: 16,
    ffn: 64,
    slidingWindow: 128,
    seed: 2,
    out: lm,
  });
  const mmproj = join(dir, "mmproj.gguf");
  const tower = randomMmproj({
    textEmbd: 32,
    imageSize: 32,
    patchSize: 8,
    mergeFactor: 2,
    nEmbd: 32,
    nFf: 64,
    nLayer: 1,
    nHead: 2,
    seed: 2,
  });
  await saveMmproj(mmproj, tower.config, tower.tensors);
  return { lm, mmproj };
}

test("vision targets: 'vision', vision names and regexes go to the vision tower, the rest to the language model", () => {
  const { config } = randomMmproj({ textEmbd: 32, nLayer: 2, seed: 1 });
  assert.deepEqual(splitVisionTargets("all-linear", config, 2), { vision: [], language: ["all-linear"] });
  const all = splitVisionTargets("q,v,vision", config, 2);
  assert.equal(all.vision.length, 2 * 6 + 1);
  assert.deepEqual(all.language, ["q", "v"]);
  assert.deepEqual(splitVisionTargets("/^v\\.blk\\.1\\.attn_(q|v)$/", config, 2), {
    vision: ["v.blk.1.attn_q", "v.blk.1.attn_v"],
    language: [],
  });
  assert.deepEqual(splitVisionTargets("/attn_q/", config, 2).language, ["/attn_q/"]);
  assert.throws(() => splitVisionTargets("v.blk.9.attn_q", config, 2), /unknown vision layer/);
});

test("full fine-tuning of both towers: a tiny model learns to name the colour of images it never saw", async () => {
  const { lm, mmproj } = await tinyModels();
  const trainData = await syntheticImages(24, "train", 1);
  const evalData = await syntheticImages(12, "eval", 99);
  const out = join(dir, "run-full");
  const cfg = resolveTrainConfig(undefined, {
    model: lm,
    mmproj,
    data: trainData,
    out,
    method: "full",
    maxSteps: 40,
    batch: 4,
    maxSeq: 64,
    lr: 3e-3,
    warmup: 0.1,
    seed: 3,
    threads: 1,
    logEvery: 10,
  });
  const losses: number[] = [];
  const r = await train(cfg, { onLog: (row) => losses.push(row.loss) });
  console.log(`# losses ${losses.map((l) => l.toFixed(3)).join(" ")}`);
  const before = VisionModel.load(mmproj);
  const after = VisionModel.load(join(out, "mmproj.gguf"));
  const model = Model.load(join(out, "model.gguf"));
  const encoder = siglipEncoder(after);
  try {
    // the vision tower was trained (full): its patch embedding moved
    const a = before.weights.get("v.patch_embd.weight").f32();
    const b = after.weights.get("v.patch_embd.weight").f32();
    assert.ok(
      a.some((v, i) => Math.abs(v - b[i]!) > 1e-4),
      "vision weights unchanged",
    );
    const ev = await evalImageQuestions({
      model,
      encoder,
      render: modelRender(model),
      data: evalData,
      maxTokens: 3,
    });
    console.log(`# held-out colour accuracy ${ev.report.accuracy} (chance 0.5), ${r.steps} steps`);
    assert.ok(ev.report.accuracy >= 0.9, `accuracy ${ev.report.accuracy}`);
  } finally {
    encoder.dispose();
    before.dispose();
    model.dispose();
  }
});

test("vision LoRA merges exactly: the written mmproj encodes as the base with the LoRA hook", async () => {
  const { config, tensors } = randomMmproj({
    textEmbd: 32,
    imageSize: 32,
    patchSize: 8,
    mergeFactor: 2,
    nEmbd: 32,
    nFf: 64,
    nLayer: 1,
    nHead: 2,
    seed: 5,
  });
  const base = join(dir, "lora-base.gguf");
  await saveMmproj(base, config, tensors);
  const vision = VisionModel.load(base, { trainable: true });
  const trainer = new VisionTrainer(vision, {
    loraLayers: ["v.blk.0.attn_q", "v.blk.0.ffn_down", "mm.input_projection"],
    r: 4,
    alpha: 8,
    dropout: 0,
    rslora: false,
    full: false,
    projector: false,
    seed: 1,
  });
  try {
    // B starts at zero: give every B random values so the merge has something to fold in
    let s = 7;
    for (const p of trainer.params())
      if (p.name.endsWith("lora_b"))
        p.set(
          Float32Array.from(
            { length: p.nelements },
            () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2,
          ),
        );
    const pixels = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37));
    const hooked = vision.encode(pixels, { linear: trainer.linear() });
    const plain = vision.encode(pixels);
    const merged = join(dir, "lora-merged.gguf");
    await trainer.saveMmproj(merged);
    const back = VisionModel.load(merged);
    try {
      const m = back.encode(pixels);
      const d = Math.max(...Array.from(m, (v, i) => Math.abs(v - hooked[i]!)));
      const moved = Math.max(...Array.from(plain, (v, i) => Math.abs(v - hooked[i]!)));
      assert.ok(moved > 1e-2, `the LoRA changes the soft tokens (${moved})`);
      assert.ok(d < 1e-4, `merged vs hooked: ${d}`);
      // untouched tensors are written back unchanged
      assert.deepEqual(
        back.weights.get("v.blk.0.attn_k.weight").f32(),
        vision.weights.get("v.blk.0.attn_k.weight").f32(),
      );
    } finally {
      back.dispose();
    }
  } finally {
    trainer.free();
    vision.dispose();
  }
});

test("LoRA on language and vision layers with a trained projector: adapter.gguf + an mmproj changed only where trained", async () => {
  const { lm, mmproj } = await tinyModels();
  const data = await syntheticImages(8, "lora", 5);
  const out = join(dir, "run-lora");
  const cfg = resolveTrainConfig(undefined, {
    model: lm,
    mmproj,
    data,
    out,
    target: "q,v,/^v\\.blk\\.0\\.attn_(q|v)$/",
    trainProjector: true,
    maxSteps: 3,
    batch: 4,
    maxSeq: 64,
    lr: 1e-2,
    seed: 3,
    threads: 1,
  });
  const r = await train(cfg);
  assert.equal(r.adapterPath, join(out, "adapter.gguf"));
  const before = VisionModel.load(mmproj);
  const after = VisionModel.load(join(out, "mmproj.gguf"));
  try {
    const changed = before.weights.names().filter((n) => {
      const a = before.weights.get(n).f32();
      const b = after.weights.get(n).f32();
      return a.some((v, i) => v !== b[i]);
    });
    assert.deepEqual(changed.sort(), [
      "mm.input_projection.weight",
      "mm.soft_emb_norm.weight",
      "v.blk.0.attn_q.weight",
      "v.blk.0.attn_v.weight",
    ]);
  } finally {
    before.dispose();
    after.dispose();
  }
});

test("Gemma 3n (MobileNet-V5 mmproj): a gemma3n LM trains on image records (LoRA), the tower by projector type, then image eval", async () => {
  const { writeRandomGemma3nMmproj } = await import("../../lib/models/vision/mobilenetv5-model.js");
  const lm = join(dir, "g3n.gguf");
  const made = await newModelGguf({ arch: "gemma3n", tokenizerFrom: DEFAULT_MODEL, seed: 6, out: lm });
  const tower = await writeRandomGemma3nMmproj(lm, { projectionDim: made.dim, seed: 6, imageSize: 256 });
  const data = await syntheticImages(4, "g3n", 8);
  const out = join(dir, "run-g3n");
  const base = {
    model: lm,
    mmproj: tower.out,
    data,
    out,
    maxSteps: 2,
    batch: 2,
    maxSeq: 320,
    lr: 1e-2,
    seed: 3,
    threads: 1,
  };
  await train(resolveTrainConfig(undefined, { ...base, target: "q" }));
  const model = Model.load(lm);
  const { openImageEncoder } = await import("../../lib/multimodal/vision.js");
  const encoder = openImageEncoder(join(out, "mmproj.gguf"));
  try {
    assert.equal(encoder.bidirectional, false);
    assert.equal(encoder.image.tokensPerImage, tower.imageTokens);
    const ev = await evalImageQuestions({
      model,
      encoder,
      render: modelRender(model),
      data,
      maxTokens: 2,
      limit: 1,
    });
    assert.equal(ev.predictions.length, 1);
  } finally {
    encoder.dispose();
    model.dispose();
  }
});

test("Gemma 3n tower trained with a gemma3n LM (tunekit train --mmproj --target vision --train-projector): the loss falls, the merged mmproj is written", async () => {
  const { writeRandomGemma3nMmproj, MobileNetV5Model } =
    await import("../../lib/models/vision/mobilenetv5-model.js");
  const lm = join(dir, "g3n-tower.gguf");
  const made = await newModelGguf({ arch: "gemma3n", tokenizerFrom: DEFAULT_MODEL, seed: 6, out: lm });
  const tower = await writeRandomGemma3nMmproj(lm, { projectionDim: made.dim, seed: 6, imageSize: 256 });
  const data = await syntheticImages(4, "g3n-tower", 8);
  const out = join(dir, "run-g3n-tower");
  // the gradient reaches the tower through the gemma3n text model's input embeddings (its per-layer input
  // projection included); vision LoRA on the encoder's linear layers and the projector in full
  const cli = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "lib/cli/main.ts",
      "train",
      "--model",
      lm,
      "--mmproj",
      tower.out,
      "--data",
      data,
      "--out",
      out,
      "--target",
      "vision",
      "--train-projector",
      "--max-steps",
      "5",
      "--batch",
      "4",
      "--max-seq",
      "320",
      "--lr",
      "1e-2",
      "--seed",
      "3",
      "--threads",
      "1",
      "--json",
    ],
    { encoding: "utf8", cwd: PACKAGE_ROOT },
  );
  assert.equal(cli.status, 0, cli.stderr);
  const losses = readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; loss: number })
    .filter((r) => r.type === "train")
    .map((r) => r.loss);
  console.log(
    `# gemma3n + MobileNet-V5 (vision LoRA + projector): losses ${losses.map((l) => l.toFixed(3)).join(" ")}`,
  );
  assert.equal(losses.length, 5);
  assert.ok(losses.at(-1)! < losses[0]! - 0.3, `loss ${losses[0]} → ${losses.at(-1)}`);
  // only the tower trained (no language targets): no adapter, the mmproj holds the merged LoRA and projector
  assert.equal(existsSync(join(out, "adapter.gguf")), false);
  const before = MobileNetV5Model.load(tower.out);
  const after = MobileNetV5Model.load(join(out, "mmproj.gguf"));
  try {
    const changed = new Set(
      before.weights.names().filter((n) => {
        const a = before.weights.get(n).bytes();
        const b = after.weights.get(n).bytes();
        return a.length !== b.length || a.some((v, i) => v !== b[i]);
      }),
    );
    assert.deepEqual(after.weights.names().sort(), before.weights.names().sort());
    for (const n of ["mm.input_projection.weight", "mm.soft_emb_norm.weight", "v.blk.0.0.conv_pwl.weight"])
      assert.ok(changed.has(n), `${n} unchanged`);
    // depthwise kernels and the stem are not LoRA targets: written back as they were
    for (const n of ["v.conv_stem.conv.weight", "v.blk.1.0.dw_mid.conv.weight"])
      assert.ok(!changed.has(n), `${n} changed`);
  } finally {
    before.dispose();
    after.dispose();
  }
});
