// The CaficulBot augmentation, seeded: brightness ±5 %, contrast ±5 %, rotation ±3°, Gaussian blur
// radius 0.1–0.3, colour saturation ±2 %, sharpness ±2 %, applied with per-class multipliers
// (critical classes ×4, others ×2). Factors follow Pillow's ImageEnhance, which the original project
// used: brightness/contrast/colour are bit-exact with Pillow (tested), sharpness (a blend with Pillow's
// SMOOTH filter) matches it within ±1 away from the border, and the blur is a true Gaussian whose
// standard deviation is the "radius" (Pillow's GaussianBlur approximates it with box blurs).
import sharp from "sharp";
import { SeededRandom } from "../random.js";
import { loadRgb } from "./transform.js";

/** The drawn parameters of one augmentation. */
export interface AugmentParams {
  /** Brightness factor (1 = unchanged). */
  brightness: number;
  /** Contrast factor around the mean grey level. */
  contrast: number;
  /** Saturation factor. */
  saturation: number;
  /** Rotation in degrees (positive = clockwise), canvas kept at the original size. */
  rotation: number;
  /** Gaussian blur standard deviation in pixels. */
  blur: number;
  /** Sharpness factor (1 = unchanged, >1 sharper). */
  sharpness: number;
}

/** Ranges of the augmentation (defaults: the CaficulBot recipe). */
export interface AugmentRanges {
  brightness: number;
  contrast: number;
  saturation: number;
  rotationDeg: number;
  blur: [number, number];
  sharpness: number;
}

/** The CaficulBot ranges. */
export const CAFICULBOT_RANGES: AugmentRanges = {
  brightness: 0.05,
  contrast: 0.05,
  saturation: 0.02,
  rotationDeg: 3,
  blur: [0.1, 0.3],
  sharpness: 0.02,
};

/** Draws one set of parameters. */
export function drawAugmentParams(rng: SeededRandom, ranges: AugmentRanges = CAFICULBOT_RANGES): AugmentParams {
  return {
    brightness: rng.uniform(1 - ranges.brightness, 1 + ranges.brightness),
    contrast: rng.uniform(1 - ranges.contrast, 1 + ranges.contrast),
    saturation: rng.uniform(1 - ranges.saturation, 1 + ranges.saturation),
    rotation: rng.uniform(-ranges.rotationDeg, ranges.rotationDeg),
    blur: rng.uniform(ranges.blur[0], ranges.blur[1]),
    sharpness: rng.uniform(1 - ranges.sharpness, 1 + ranges.sharpness),
  };
}

/** 3×3 Gaussian kernel of standard deviation `sigma` (enough for sigma ≤ 0.5: the next ring weighs < 1e-3). */
export function gaussianKernel3(sigma: number): number[] {
  const w = Math.exp(-1 / (2 * sigma * sigma));
  const row = [w, 1, w];
  const k = row.flatMap((a) => row.map((b) => a * b));
  const sum = k.reduce((x, y) => x + y, 0);
  return k.map((v) => v / sum);
}

/** PIL's sharpness enhancement as a 3×3 kernel: f·identity + (1−f)·SMOOTH. */
export function sharpnessKernel3(f: number): number[] {
  const smooth = [1, 1, 1, 1, 5, 1, 1, 1, 1].map((v) => v / 13);
  return smooth.map((v, i) => (1 - f) * v + (i === 4 ? f : 0));
}

/** Full 2-D convolution of two 3×3 kernels → 5×5 (blur then sharpen in one pass). */
export function composeKernels(a: number[], b: number[]): number[] {
  const out = new Array<number>(25).fill(0);
  for (let ay = 0; ay < 3; ay++)
    for (let ax = 0; ax < 3; ax++)
      for (let by = 0; by < 3; by++) for (let bx = 0; bx < 3; bx++) out[(ay + by) * 5 + ax + bx]! += a[ay * 3 + ax]! * b[by * 3 + bx]!;
  return out;
}

/** PIL's Image.blend of one 8-bit value: in1 + alpha·(in2 − in1) in float32, clipped, truncated to an integer. */
function blend(in1: number, in2: number, alpha: number): number {
  const t = Math.fround(in1 + Math.fround(Math.fround(alpha) * (in2 - in1)));
  return t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
}

/** PIL's RGB → L conversion (ITU-R 601-2 luma in 16-bit fixed point, rounded). */
function luma(data: Uint8Array, i: number): number {
  return (data[i]! * 19595 + data[i + 1]! * 38470 + data[i + 2]! * 7471 + 0x8000) >> 16;
}

/**
 * PIL's ImageEnhance on raw RGB, in place and bit-exact: Brightness (blend with black), then Contrast
 * (blend with the mean grey level, rounded), then Color (blend with the image's own greyscale).
 */
export function enhanceColours(data: Uint8Array, p: Pick<AugmentParams, "brightness" | "contrast" | "saturation">): void {
  for (let i = 0; i < data.length; i++) data[i] = blend(0, data[i]!, p.brightness);
  let sum = 0;
  for (let i = 0; i < data.length; i += 3) sum += luma(data, i);
  const mean = Math.floor(sum / (data.length / 3) + 0.5);
  for (let i = 0; i < data.length; i++) data[i] = blend(mean, data[i]!, p.contrast);
  for (let i = 0; i < data.length; i += 3) {
    const l = luma(data, i);
    for (let c = 0; c < 3; c++) data[i + c] = blend(l, data[i + c]!, p.saturation);
  }
}

/** Applies one augmentation to an image; returns encoded bytes (PNG, or JPEG quality 95). */
export async function augmentImage(input: string | Buffer, p: AugmentParams, format: "jpeg" | "png" = "png"): Promise<Buffer> {
  const { width, height, data } = await loadRgb(input);
  enhanceColours(data, p);
  const raw = { raw: { width, height, channels: 3 as const } };
  // Rotation on an expanded canvas, then the centre cut back to the original size (black corners, as PIL).
  const rotated = await sharp(data, raw).rotate(p.rotation, { background: { r: 0, g: 0, b: 0 } }).raw().toBuffer({ resolveWithObject: true });
  const left = Math.max(0, Math.round((rotated.info.width - width) / 2));
  const top = Math.max(0, Math.round((rotated.info.height - height) / 2));
  const rinfo = { raw: { width: rotated.info.width, height: rotated.info.height, channels: 3 as const } };
  const cropped = await sharp(rotated.data, rinfo).extract({ left, top, width, height }).raw().toBuffer();
  // Blur and sharpness as one 5×5 convolution.
  const kernel = composeKernels(gaussianKernel3(p.blur), sharpnessKernel3(p.sharpness));
  const out = sharp(cropped, raw).convolve({ width: 5, height: 5, kernel, scale: 1, offset: 0 });
  return format === "jpeg" ? out.jpeg({ quality: 95 }).toBuffer() : out.png().toBuffer();
}

/** Per-class multipliers: `{ rust: 4, broca: 4, "*": 2 }` — the class ends with m× as many images (the original plus m−1 augmented copies). */
export type ClassMultipliers = Record<string, number>;

/** Parses `rust=4,broca=4,*=2`. */
export function parseMultipliers(text: string): ClassMultipliers {
  const out: ClassMultipliers = {};
  for (const piece of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(.+?)\s*[=:x×]\s*(\d+(?:\.\d+)?)$/.exec(piece);
    if (!m) throw new RangeError(`bad multiplier "${piece}" (expected class=N)`);
    out[m[1]!.trim().toLowerCase()] = Number(m[2]);
  }
  return out;
}

/** How many augmented copies an image of `label` gets (multiplier − 1, at least 0; multi-label images take their largest). */
export function copiesFor(label: string | undefined, multipliers: ClassMultipliers): number {
  if (label === undefined) return 0;
  const ms = label.split(", ").map((l) => multipliers[l.toLowerCase()] ?? multipliers["*"] ?? 1);
  return Math.max(0, Math.round(Math.max(...ms)) - 1);
}
