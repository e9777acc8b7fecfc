// Hugging Face Gemma 3n checkpoint → gemma3nv mmproj: names as convert_hf_to_gguf.py's Gemma3nVisionAudioModel
// maps them (its block table and gguf-py's tensor_mapping entries, quoted below), layer scales and the stem bias
// unsqueezed, types as its --outtype f16 output; the converted tower encodes like the one it came from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { openGguf } from "../../lib/gguf/index.js";
import { floatBytesToF32 } from "../../lib/models/cast.js";
import { MNV5 } from "../../lib/models/vision/mobilenetv5-config.js";
import { convertGemma3nVisionHf, gemma3nVisionGgufName } from "../../lib/models/vision/mobilenetv5-hf.js";
import { MobileNetV5Model } from "../../lib/models/vision/mobilenetv5-model.js";
import { randomMobileNetV5Mmproj } from "../../lib/models/vision/mobilenetv5-random.js";
import { writeSafetensors } from "../../lib/util/safetensors.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-mnv5-hf-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// pairs copied from convert_hf_to_gguf.py (block_tensor_mapping) and gguf-py (tensor_mapping.py, constants.py)
const QUOTED: [string, string][] = [
  ["model.vision_tower.timm_model.blocks.0.1.conv_exp.weight", "v.blk.0.1.conv_exp.weight"],
  ["model.vision_tower.timm_model.blocks.1.0.dw_mid.bn.weight", "v.blk.1.0.dw_mid.bn.weight"],
  [
    "model.vision_tower.timm_model.blocks.2.3.attn.key.down_conv.weight",
    "v.blk.2.3.attn.key.down_conv.weight",
  ],
  ["model.vision_tower.timm_model.blocks.3.4.layer_scale.gamma", "v.blk.3.4.layer_scale.gamma"],
  ["model.vision_tower.timm_model.blocks.3.4.norm.weight", "v.blk.3.4.norm.weight"],
  ["model.vision_tower.timm_model.conv_stem.conv.bias", "v.conv_stem.conv.bias"],
  ["model.vision_tower.timm_model.msfa.ffn.pw_proj.bn.weight", "v.msfa.ffn.pw_proj.bn.weight"],
  ["model.vision_tower.timm_model.msfa.norm.weight", "v.msfa.norm.weight"],
  ["model.embed_vision.embedding_projection.weight", "mm.input_projection.weight"],
  ["model.embed_vision.soft_embedding_norm.weight", "mm.soft_emb_norm.weight"],
  ["model.embed_vision.hard_embedding_norm.weight", "mm.hard_emb_norm.weight"],
];

test("tensor names follow convert_hf_to_gguf.py; text/audio tensors are skipped, unknown vision ones refused", () => {
  for (const [hf, gguf] of QUOTED) assert.equal(gemma3nVisionGgufName(hf), gguf, hf);
  assert.equal(gemma3nVisionGgufName("model.language_model.layers.0.self_attn.q_proj.weight"), undefined);
  assert.equal(
    gemma3nVisionGgufName("model.audio_tower.conformer.0.attention.attn.q_proj.weight"),
    undefined,
  );
  assert.throws(
    () => gemma3nVisionGgufName("model.vision_tower.timm_model.blocks.0.0.mystery.weight"),
    /unknown/,
  );
});

test("a checkpoint made from a random tower converts back to the same tensors and tokens", async () => {
  const { config, tensors } = randomMobileNetV5Mmproj({ projectionDim: 32, imageSize: 256, seed: 12 });
  const inverse = new Map<string, string>();
  for (const name of tensors.keys()) {
    const m = /^v\.blk\.(\d+)\.(\d+)\.(.+)$/.exec(name);
    if (m) inverse.set(name, `model.vision_tower.timm_model.blocks.${m[1]}.${m[2]}.${m[3]}`);
  }
  for (const [hf, gguf] of QUOTED) if (!gguf.startsWith("v.blk.")) inverse.set(gguf, hf);
  inverse.set(MNV5.stemConv, "model.vision_tower.timm_model.conv_stem.conv.weight");
  inverse.set(MNV5.stemNorm, "model.vision_tower.timm_model.conv_stem.bn.weight");
  inverse.set(MNV5.msfaExp, "model.vision_tower.timm_model.msfa.ffn.pw_exp.conv.weight");
  inverse.set(MNV5.msfaExpNorm, "model.vision_tower.timm_model.msfa.ffn.pw_exp.bn.weight");
  inverse.set(MNV5.msfaProj, "model.vision_tower.timm_model.msfa.ffn.pw_proj.conv.weight");
  const st = [...tensors].map(([name, t]) => {
    const squeezed = name === MNV5.stemBias || name.endsWith("layer_scale.gamma");
    const shape = squeezed ? [t.shape[2]] : [...t.shape].reverse();
    return { name: inverse.get(name)!, shape, data: floatBytesToF32(t.type, t.data) };
  });
  // a text and an audio tensor the converter must leave out
  st.push({ name: "model.language_model.norm.weight", shape: [32], data: new Float32Array(32).fill(1) });
  st.push({ name: "model.audio_tower.conformer.0.norm.weight", shape: [4], data: new Float32Array(4) });
  const ckpt = join(dir, "ckpt");
  mkdirSync(ckpt);
  writeSafetensors(join(ckpt, "model.safetensors"), st);
  writeFileSync(
    join(ckpt, "config.json"),
    JSON.stringify({
      architectures: ["Gemma3nForConditionalGeneration"],
      vision_config: { hidden_size: 32 },
      text_config: { hidden_size: 32 },
    }),
  );
  writeFileSync(
    join(ckpt, "preprocessor_config.json"),
    JSON.stringify({ size: { height: 256, width: 256 }, image_seq_length: 256 }),
  );

  const out = join(dir, "converted.gguf");
  const r = await convertGemma3nVisionHf({ dir: ckpt, out });
  assert.equal(r.tensors, tensors.size);
  assert.deepEqual([r.config.imageSize, r.config.patchSize, r.config.projectionDim], [256, 1, 32]);
  const file = openGguf(out);
  try {
    for (const [name, t] of tensors) {
      const info = file.tensor(name);
      assert.ok(info, name);
      assert.deepEqual(info.shape, t.shape, name);
      // the random tower already uses convert's --outtype f16 types: stem f32, kernels f16, vectors f32
      assert.equal(info.type, t.type, name);
      assert.deepEqual(file.tensorData(name), t.data, name);
    }
    assert.equal(file.tensor(MNV5.inputProjection)!.type, GgmlType.F16);
  } finally {
    file.close();
  }
  const a = MobileNetV5Model.fromTensors(config, tensors);
  const b = MobileNetV5Model.load(out);
  try {
    const px = Float32Array.from({ length: 256 * 256 * 3 }, (_, i) => ((i * 31) % 255) / 255);
    assert.deepEqual(b.encode(px), a.encode(px));
  } finally {
    a.dispose();
    b.dispose();
  }
});
