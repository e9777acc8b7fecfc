import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import {
  augmentImage,
  CAFICULBOT_RANGES,
  composeKernels,
  copiesFor,
  drawAugmentParams,
  enhanceColours,
  gaussianKernel3,
  parseMultipliers,
  sharpnessKernel3,
} from "../../lib/data/images/augment.js";
import { contactSheet } from "../../lib/data/images/contact-sheet.js";
import { loadRgb, placeholderPng, resizeToModel } from "../../lib/data/images/transform.js";
import { SeededRandom } from "../../lib/data/random.js";
import { tempDir } from "./helpers.js";

// Debian's python3 with Pillow, the library the CaficulBot notebook augmented with (an external reference).
const PY = "/usr/bin/python3";
const havePil = spawnSync(PY, ["-c", "import PIL"]).status === 0;

function randomRgb(w: number, h: number, seed: number): Buffer {
  const rng = new SeededRandom(seed);
  return Buffer.from(Array.from({ length: w * h * 3 }, () => rng.int(256)));
}

function pil(script: string, input: Buffer, w: number, h: number, dir: string): Buffer {
  writeFileSync(join(dir, "in.bin"), input);
  const code = `from PIL import Image, ImageEnhance, ImageFilter\nim = Image.frombytes("RGB", (${w}, ${h}), open(${JSON.stringify(join(dir, "in.bin"))}, "rb").read())\n${script}\nopen(${JSON.stringify(join(dir, "out.bin"))}, "wb").write(out.tobytes())`;
  const r = spawnSync(PY, ["-c", code], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(join(dir, "out.bin"));
}

test("colour augmentation is bit-exact with Pillow's ImageEnhance (Brightness → Contrast → Color)", { skip: !havePil && "Pillow (/usr/bin/python3) is absent" }, () => {
  const { dir, cleanup } = tempDir();
  try {
    const src = randomRgb(24, 16, 3);
    for (const [b, c, s] of [[1.05, 1.0, 1.0], [1.0, 0.95, 1.0], [1.0, 1.0, 1.02], [0.951, 1.049, 0.981]] as const) {
      const want = pil(`out = ImageEnhance.Color(ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(${b})).enhance(${c})).enhance(${s})`, src, 24, 16, dir);
      const got = new Uint8Array(src);
      enhanceColours(got, { brightness: b, contrast: c, saturation: s });
      assert.deepEqual(Buffer.from(got), want, `factors ${b}, ${c}, ${s}`);
    }
  } finally {
    cleanup();
  }
});

test("sharpness matches Pillow's ImageEnhance.Sharpness on interior pixels (±1)", { skip: !havePil && "Pillow (/usr/bin/python3) is absent" }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const [w, h] = [20, 14];
    const src = randomRgb(w, h, 9);
    const input = await sharp(src, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    for (const f of [1.02, 0.98, 1.5]) {
      const want = pil(`out = ImageEnhance.Sharpness(im).enhance(${f})`, src, w, h, dir);
      const got = (await loadRgb(await augmentImage(input, { brightness: 1, contrast: 1, saturation: 1, rotation: 0, blur: 0.01, sharpness: f }))).data;
      let worst = 0;
      for (let y = 1; y < h - 1; y++) for (let x = 1; x < w - 1; x++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got[(y * w + x) * 3 + c]! - want[(y * w + x) * 3 + c]!));
      assert.ok(worst <= 1, `sharpness ${f}: worst interior difference ${worst}`);
    }
  } finally {
    cleanup();
  }
});

test("kernels: Gaussian and sharpness kernels sum to 1, compose to a 5×5 that sums to 1; identity parameters leave pixels unchanged", async () => {
  const sum = (k: number[]) => k.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum(gaussianKernel3(0.3)) - 1) < 1e-12);
  assert.ok(Math.abs(sum(sharpnessKernel3(1.02)) - 1) < 1e-12);
  assert.ok(Math.abs(sum(composeKernels(gaussianKernel3(0.2), sharpnessKernel3(0.98))) - 1) < 1e-12);
  // sigma 0.3: neighbour weight e^(-1/(2·0.09)) = 0.00386 relative to the centre (hand-computed).
  const g = gaussianKernel3(0.3);
  assert.ok(Math.abs(g[1]! / g[4]! - Math.exp(-1 / 0.18)) < 1e-12);
  const src = randomRgb(16, 12, 4);
  const input = await sharp(src, { raw: { width: 16, height: 12, channels: 3 } }).png().toBuffer();
  const same = await loadRgb(await augmentImage(input, { brightness: 1, contrast: 1, saturation: 1, rotation: 0, blur: 0.05, sharpness: 1 }));
  assert.deepEqual(same.data, src);
});

test("augmentation parameters stay in the CaficulBot ranges and are reproducible from the seed; rotation keeps the size", async () => {
  const rng = new SeededRandom(7);
  for (let i = 0; i < 2000; i++) {
    const p = drawAugmentParams(rng);
    assert.ok(p.brightness >= 0.95 && p.brightness <= 1.05 && p.contrast >= 0.95 && p.contrast <= 1.05);
    assert.ok(p.saturation >= 0.98 && p.saturation <= 1.02 && p.sharpness >= 0.98 && p.sharpness <= 1.02);
    assert.ok(Math.abs(p.rotation) <= 3 && p.blur >= 0.1 && p.blur <= 0.3);
  }
  assert.deepEqual(drawAugmentParams(new SeededRandom(11)), drawAugmentParams(new SeededRandom(11)));
  assert.notDeepEqual(drawAugmentParams(new SeededRandom(11)), drawAugmentParams(new SeededRandom(12)));
  assert.equal(CAFICULBOT_RANGES.rotationDeg, 3);
  const white = await sharp({ create: { width: 60, height: 40, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer();
  const p = { ...drawAugmentParams(new SeededRandom(1)), rotation: 3, brightness: 1, contrast: 1, saturation: 1 };
  const a = await augmentImage(white, p);
  assert.deepEqual(a, await augmentImage(white, p));
  const img = await loadRgb(a);
  assert.deepEqual([img.width, img.height], [60, 40]);
  assert.ok(img.data[0]! < 40, "a rotated corner is black");
  assert.ok(img.data[(20 * 60 + 30) * 3]! > 240, "the centre stays white");
});

test("per-class multipliers: parse, copies per label (largest for multi-label images)", () => {
  const m = parseMultipliers("Roya=4, broca:4, *=2");
  assert.deepEqual(m, { roya: 4, broca: 4, "*": 2 });
  assert.equal(copiesFor("roya", m), 3);
  assert.equal(copiesFor("ojo de gallo", m), 1);
  assert.equal(copiesFor("broca, sana", m), 3);
  assert.equal(copiesFor(undefined, m), 0);
  assert.equal(copiesFor("x", { roya: 4 }), 0);
  assert.throws(() => parseMultipliers("roya"), /bad multiplier "roya"/);
});

test("placeholder is a black 224×224 RGB image; resize pads to the model size; contact sheet layout", async () => {
  const ph = await sharp(await placeholderPng()).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([ph.info.width, ph.info.height, ph.info.channels], [224, 224, 3]);
  assert.ok(ph.data.every((v: number) => v === 0));
  const red = await sharp({ create: { width: 100, height: 50, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const padded = await resizeToModel(red, { size: 224 }).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([padded.info.width, padded.info.height], [224, 224]);
  assert.deepEqual([...padded.data.subarray(0, 3)], [0, 0, 0]);
  const mid = (112 * 224 + 112) * 3;
  assert.deepEqual([...padded.data.subarray(mid, mid + 3)], [255, 0, 0]);
  const cropped = await resizeToModel(red, { size: { width: 32, height: 32 }, fit: "crop" }).raw().toBuffer();
  assert.deepEqual([...cropped.subarray(0, 3)], [255, 0, 0]);
  // 7 tiles, 3 columns, tile 64, gap 4, captions 18 px: 3×64 + 4×4 = 208 wide, 3×82 + 4×4 = 262 high.
  const sheet = await sharp(await contactSheet(Array.from({ length: 7 }, (_, i) => ({ image: red, caption: `roya ${i}` })), { columns: 3, tile: 64 }))
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.deepEqual([sheet.info.width, sheet.info.height], [208, 262]);
  const tileCentre = ((4 + 32) * 208 + (4 + 32)) * 3;
  assert.deepEqual([...sheet.data.subarray(tileCentre, tileCentre + 3)], [255, 0, 0]);
});
