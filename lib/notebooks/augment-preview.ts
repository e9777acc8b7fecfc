// The augmentation preview of 04-images: for a few images, the original next to seeded augmented
// copies (as many as the class's multiplier asks for), drawn with the same functions `data prepare
// --augment` uses, in one contact sheet PNG, plus the drawn parameters of every copy.
import sharp from "sharp";
import { writeFileAtomic } from "../util/atomic.js";
import {
  augmentImage,
  copiesFor,
  drawAugmentParams,
  type AugmentParams,
  type AugmentRanges,
  type ClassMultipliers,
} from "../data/images/augment.js";
import { contactSheet, type SheetItem } from "../data/images/contact-sheet.js";
import { SeededRandom } from "../data/random.js";

/** Options of {@link augmentationPreview}. */
export interface AugmentPreviewOptions {
  /** Images to augment, each with its class label. */
  images: ReadonlyArray<{ path: string; label: string }>;
  /** Per-class multipliers (`{ rust: 4, "*": 2 }`): a class ends with m× as many images. */
  multipliers: ClassMultipliers;
  /** Where the contact sheet PNG is written. */
  out: string;
  /** Seed of the drawn parameters (default 42). */
  seed?: number;
  /** Augmentation ranges (default: the CaficulBot recipe). */
  ranges?: AugmentRanges;
  /** Thumbnail edge in pixels (default 112). */
  tile?: number;
}

/** One augmented copy's parameters, as a table row. */
export type AugmentPreviewRow = { image: string; label: string; copy: number } & AugmentParams;

/** What {@link augmentationPreview} made. */
export interface AugmentPreview {
  /** The contact sheet: one row per image, the original first. */
  sheet: string;
  /** Tiles per row of the sheet (1 + the largest number of copies). */
  columns: number;
  rows: AugmentPreviewRow[];
}

/** Augments every image `multiplier − 1` times and writes the contact sheet. */
export async function augmentationPreview(o: AugmentPreviewOptions): Promise<AugmentPreview> {
  const rng = new SeededRandom(o.seed ?? 42);
  const copies = o.images.map((im) => copiesFor(im.label, o.multipliers));
  const columns = 1 + Math.max(0, ...copies);
  const tiles: SheetItem[] = [];
  const rows: AugmentPreviewRow[] = [];
  for (const [k, im] of o.images.entries()) {
    tiles.push({ image: im.path, caption: im.label });
    for (let c = 1; c <= columns - 1; c++) {
      if (c > copies[k]!) {
        tiles.push({ image: Buffer.alloc(0), caption: "" });
        continue;
      }
      const p = drawAugmentParams(rng, o.ranges);
      tiles.push({ image: await augmentImage(im.path, p), caption: `copy ${c}: ${p.rotation.toFixed(1)}°` });
      rows.push({ image: im.path, label: im.label, copy: c, ...p });
    }
  }
  // Empty slots (classes with fewer copies) become tiles of the background colour.
  const blank = await sharp({
    create: { width: 8, height: 8, channels: 3, background: { r: 24, g: 24, b: 24 } },
  })
    .png()
    .toBuffer();
  const filled = tiles.map((t) => (Buffer.isBuffer(t.image) && t.image.length === 0 ? { image: blank } : t));
  writeFileAtomic(o.out, await contactSheet(filled, { columns, tile: o.tile ?? 112 }));
  return { sheet: o.out, columns, rows };
}
