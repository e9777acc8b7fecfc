// Image loading and resizing with sharp: decode any format sharp reads, bring it to a model's input
// size (pad, crop or stretch), and write black placeholders for records that have no image.
import sharp from "sharp";
import type { Sharp } from "sharp";
import { InputError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/atomic.js";

/** Decoded RGB pixels. */
export interface RgbImage {
  width: number;
  height: number;
  /** width × height × 3 bytes, row-major RGB. */
  data: Buffer;
}

/** Loads an image file (or encoded bytes) as 8-bit RGB, honouring EXIF orientation. */
export async function loadRgb(input: string | Buffer): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(input).rotate().removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data };
  } catch (err) {
    throw new InputError(`cannot decode image: ${(err as Error).message}`, { file: typeof input === "string" ? input : undefined });
  }
}

/** Options of {@link resizeToModel}. */
export interface ResizeOptions {
  /** Target width and height in pixels (e.g. 224, 448, 768). */
  size: number | { width: number; height: number };
  /** pad (default): keep the aspect ratio, pad with `background`; crop: fill and cut the overflow; stretch: ignore the aspect ratio. */
  fit?: "pad" | "crop" | "stretch";
  /** Padding colour (default black). */
  background?: { r: number; g: number; b: number };
}

/** Resizes to a model's input size; returns a sharp pipeline (call .png()/.jpeg()/.raw() on it). */
export function resizeToModel(input: string | Buffer, options: ResizeOptions): Sharp {
  const { width, height } = typeof options.size === "number" ? { width: options.size, height: options.size } : options.size;
  const fit = options.fit === "crop" ? "cover" : options.fit === "stretch" ? "fill" : "contain";
  return sharp(input)
    .rotate()
    .removeAlpha()
    .resize(width, height, { fit, background: { ...(options.background ?? { r: 0, g: 0, b: 0 }), alpha: 1 } });
}

/** A black RGB PNG of the given size (224×224 by default), as Gemma 3n-style models need an image in every record. */
export async function placeholderPng(width = 224, height = width): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer();
}

/** Writes {@link placeholderPng} to `file` atomically. */
export async function writePlaceholder(file: string, width = 224, height = width): Promise<void> {
  writeFileAtomic(file, await placeholderPng(width, height));
}
