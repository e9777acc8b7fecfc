// Image preprocessing for Gemma 3's vision tower, as llama.cpp's mtmd does it for projector "gemma3"
// (mtmd_image_preprocessor_fixed_size with RESIZE_ALGO_BILINEAR and the default PAD_CEIL): fit the image
// into imageSize × imageSize keeping its aspect ratio, resample with Pillow's antialiased bilinear filter in
// 22-bit fixed point (the algorithm of Pillow's Resample.c that mtmd-image.cpp follows), centre it on black,
// then x/255 and (x − mean)/std per channel, all in float32. sharp only decodes the file.
import sharp from "sharp";
import { InputError } from "../../util/errors.js";
import type { SiglipVisionConfig } from "./siglip-config.js";

/** What preprocessing needs from the vision config. */
export type PreprocessConfig = Pick<SiglipVisionConfig, "imageSize" | "imageMean" | "imageStd">;

export interface PreprocessOptions {
  /**
   * Apply the EXIF orientation before resizing. Default false, as llama.cpp (stb_image) ignores it; turn it
   * on only if the model was trained on auto-oriented images.
   */
  autoOrient?: boolean;
}

/** Decodes an image (path or encoded bytes) to interleaved RGB8 with sharp (alpha dropped, as stb_image does). */
export async function decodeRgb(
  input: string | Buffer | Uint8Array,
  o: PreprocessOptions = {},
): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  let img = sharp(input);
  if (o.autoOrient) img = img.rotate();
  try {
    const { data, info } = await img
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
    };
  } catch (e) {
    throw new InputError(`cannot decode the image: ${(e as Error).message}`, {
      file: typeof input === "string" ? input : undefined,
    });
  }
}

/**
 * The vision tower's input for one image: f32, planar [imageSize (x), imageSize (y), 3], index x + S·y + S²·c
 * (the layout buildSiglipVision's `pixels` takes; concatenate images for a batch).
 */
export async function preprocessImage(
  input: string | Buffer | Uint8Array,
  cfg: PreprocessConfig,
  o: PreprocessOptions = {},
): Promise<Float32Array> {
  const { rgb, width, height } = await decodeRgb(input, o);
  return preprocessRgb(rgb, width, height, cfg);
}

/** preprocessImage from decoded interleaved RGB8 pixels. */
export function preprocessRgb(
  rgb: Uint8Array,
  width: number,
  height: number,
  cfg: PreprocessConfig,
): Float32Array {
  if (!(width > 0 && height > 0) || rgb.length !== width * height * 3)
    throw new InputError(
      `an RGB image of ${width}×${height} needs ${width * height * 3} bytes, got ${rgb.length}`,
    );
  const S = cfg.imageSize;
  const fitted = fitToSquare(rgb, width, height, S);
  const n = S * S;
  const out = new Float32Array(3 * n);
  const f = Math.fround;
  const mean = cfg.imageMean.map(f);
  const std = cfg.imageStd.map(f);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++) out[c * n + i] = f(f(f(fitted[3 * i + c] / 255) - mean[c]) / std[c]);
  return out;
}

/** img_tool::resize with PAD_CEIL and black padding: aspect-preserving bilinear fit, centred. */
export function fitToSquare(rgb: Uint8Array, width: number, height: number, size: number): Uint8Array {
  if (width === size && height === size) return rgb;
  const f = Math.fround;
  // float32 arithmetic as in mtmd-image.cpp
  const scale = Math.min(f(size / width), f(size / height));
  const newW = Math.min(Math.ceil(f(width * scale)), size);
  const newH = Math.min(Math.ceil(f(height * scale)), size);
  const resized = resizeBilinear(rgb, width, height, newW, newH);
  const out = new Uint8Array(size * size * 3);
  const ox = Math.trunc((size - newW) / 2);
  const oy = Math.trunc((size - newH) / 2);
  for (let y = 0; y < newH; y++)
    out.set(resized.subarray(y * newW * 3, (y + 1) * newW * 3), ((y + oy) * size + ox) * 3);
  return out;
}

const PRECISION_BITS = 22;

/** Per output pixel: first input index, count, and fixed-point weights (Pillow's precompute_coeffs). */
function coefficients(
  inSize: number,
  outSize: number,
): { bounds: Int32Array; weights: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale; // bilinear (triangle) filter of radius 1, widened when downsampling
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    pre.fill(0);
    for (let x = 0; x < xmax; x++) {
      const d = Math.abs((x + xmin - center + 0.5) * ss);
      const w = d < 1 ? 1 - d : 0;
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const w = x < xmax && ww !== 0 ? pre[x] / ww : 0;
      weights[xx * ksize + x] = Math.trunc(w * 2 ** PRECISION_BITS + (w < 0 ? -0.5 : 0.5));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

const clip8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Separable resampling, horizontal pass first, each pass skipped when its size does not change. */
export function resizeBilinear(
  rgb: Uint8Array,
  w: number,
  h: number,
  outW: number,
  outH: number,
): Uint8Array {
  let src = rgb;
  let curW = w;
  const half = 1 << (PRECISION_BITS - 1);
  if (outW !== w) {
    const { bounds, weights, ksize } = coefficients(w, outW);
    const dst = new Uint8Array(outW * h * 3);
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx];
        const cnt = bounds[2 * xx + 1];
        let s0 = half;
        let s1 = half;
        let s2 = half;
        for (let x = 0; x < cnt; x++) {
          const k = weights[xx * ksize + x];
          const p = (y * w + xmin + x) * 3;
          s0 += src[p] * k;
          s1 += src[p + 1] * k;
          s2 += src[p + 2] * k;
        }
        const o = (y * outW + xx) * 3;
        dst[o] = clip8(s0 >> PRECISION_BITS);
        dst[o + 1] = clip8(s1 >> PRECISION_BITS);
        dst[o + 2] = clip8(s2 >> PRECISION_BITS);
      }
    src = dst;
    curW = outW;
  }
  if (outH !== h) {
    const { bounds, weights, ksize } = coefficients(h, outH);
    const row = curW * 3;
    const dst = new Uint8Array(row * outH);
    const acc = new Int32Array(row);
    for (let yy = 0; yy < outH; yy++) {
      acc.fill(half);
      const ymin = bounds[2 * yy];
      const cnt = bounds[2 * yy + 1];
      for (let y = 0; y < cnt; y++) {
        const k = weights[yy * ksize + y];
        const base = (ymin + y) * row;
        for (let i = 0; i < row; i++) acc[i] += src[base + i] * k;
      }
      for (let i = 0; i < row; i++) dst[yy * row + i] = clip8(acc[i] >> PRECISION_BITS);
    }
    src = dst;
  }
  return src;
}
