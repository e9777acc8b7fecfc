// Contact sheets: a grid of thumbnails with captions in one PNG, to eyeball an image dataset (or its
// augmented copies) before training.
import sharp from "sharp";
import type { OverlayOptions } from "sharp";

/** One tile. */
export interface SheetItem {
  /** Image file or encoded bytes. */
  image: string | Buffer;
  /** Caption under the thumbnail (e.g. the class label). */
  caption?: string;
}

/** Options of {@link contactSheet}. */
export interface ContactSheetOptions {
  /** Tiles per row (default 6). */
  columns?: number;
  /** Thumbnail edge in pixels (default 128); thumbnails keep their aspect ratio, padded with grey. */
  tile?: number;
  /** Gap between tiles in pixels (default 4). */
  gap?: number;
  /** Height of the caption strip in pixels (default 18; 0 for none). */
  captionHeight?: number;
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Renders a PNG grid of thumbnails with captions. */
export async function contactSheet(items: readonly SheetItem[], options: ContactSheetOptions = {}): Promise<Buffer> {
  const columns = Math.max(1, Math.min(options.columns ?? 6, Math.max(1, items.length)));
  const tile = options.tile ?? 128;
  const gap = options.gap ?? 4;
  const cap = options.captionHeight ?? 18;
  const rows = Math.max(1, Math.ceil(items.length / columns));
  const cellH = tile + cap;
  const width = columns * tile + (columns + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const layers: OverlayOptions[] = [];
  const captions: string[] = [];
  for (const [k, it] of items.entries()) {
    const left = gap + (k % columns) * (tile + gap);
    const top = gap + Math.floor(k / columns) * (cellH + gap);
    const thumb = await sharp(it.image)
      .rotate()
      .removeAlpha()
      .resize(tile, tile, { fit: "contain", background: { r: 64, g: 64, b: 64, alpha: 1 } })
      .png()
      .toBuffer();
    layers.push({ input: thumb, left, top });
    if (cap > 0 && it.caption) {
      const text = it.caption.length > 24 ? it.caption.slice(0, 23) + "…" : it.caption;
      captions.push(
        `<text x="${left + tile / 2}" y="${top + tile + cap - 5}" font-family="sans-serif" font-size="${Math.round(cap * 0.7)}" fill="#fff" text-anchor="middle">${escapeXml(text)}</text>`,
      );
    }
  }
  if (captions.length) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${captions.join("")}</svg>`;
    layers.push({ input: Buffer.from(svg), left: 0, top: 0 });
  }
  return sharp({ create: { width, height, channels: 3, background: { r: 24, g: 24, b: 24 } } })
    .composite(layers)
    .png()
    .toBuffer();
}
