// Makes an image dataset self-contained for `data prepare`: copies every referenced image into
// <out>/images/ and rewrites the record paths relative to <out>, adds augmented copies of training
// images (per-class multipliers, seeded) and black placeholders for records without an image.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { SeededRandom } from "../random.js";
import type { ChatRecord, RecordContentPart, RecordMessage } from "../record.js";
import type { ConvertedRecord } from "../formats/types.js";
import { augmentImage, copiesFor, drawAugmentParams, type AugmentParams, type ClassMultipliers } from "./augment.js";
import { writePlaceholder } from "./transform.js";

/**
 * A copier of referenced images into `outDir/images/` (one copy per source file, numbered so equal
 * file names from different folders do not collide); it returns records with paths relative to outDir.
 * Use one copier for all splits of a dataset.
 */
export function imageCopier(outDir: string, sourceBase = process.cwd()): (items: ConvertedRecord[]) => ConvertedRecord[] {
  const copied = new Map<string, string>();
  const copy = (p: string): string => {
    const abs = resolve(sourceBase, p);
    let rel = copied.get(abs);
    if (!rel) {
      rel = `images/${String(copied.size).padStart(5, "0")}-${basename(abs)}`;
      mkdirSync(join(outDir, "images"), { recursive: true });
      copyFileSync(abs, join(outDir, rel));
      copied.set(abs, rel);
    }
    return rel;
  };
  return (items) => items.map((it) => ({ ...it, record: mapImagePaths(it.record, copy) }));
}

/** The record with every image-part path passed through `fn`. */
export function mapImagePaths(record: ChatRecord, fn: (path: string) => string): ChatRecord {
  const messages = record.messages.map((m): RecordMessage => {
    if (!Array.isArray(m.content)) return m;
    return { ...m, content: m.content.map((p): RecordContentPart => (p.type === "image" && p.path ? { ...p, path: fn(p.path) } : p)) };
  });
  return { ...record, messages };
}

/** The image-part paths of a record. */
export function imagePathsOf(record: ChatRecord): string[] {
  return record.messages.flatMap((m) => (Array.isArray(m.content) ? m.content.flatMap((p) => (p.type === "image" && p.path ? [p.path] : [])) : []));
}

/** Options of {@link augmentRecords}. */
export interface AugmentRecordsOptions {
  /** Output folder (record paths are relative to it). */
  outDir: string;
  /** Copies per class: `{rust: 4, "*": 2}` (the class ends with m× as many images). */
  multipliers: ClassMultipliers;
  /** Seed of the parameter draws. */
  seed: number;
}

/** One augmented copy and its parameters (for the report). */
export interface AugmentedCopy {
  source: string;
  path: string;
  label?: string;
  params: AugmentParams;
}

/** Adds augmented copies of labelled image records (train split only — never augment eval). */
export async function augmentRecords(items: ConvertedRecord[], options: AugmentRecordsOptions): Promise<{ records: ConvertedRecord[]; copies: AugmentedCopy[] }> {
  const out: ConvertedRecord[] = [];
  const copies: AugmentedCopy[] = [];
  mkdirSync(join(options.outDir, "images", "augmented"), { recursive: true });
  for (const [k, it] of items.entries()) {
    const n = copiesFor(it.label, options.multipliers);
    const paths = imagePathsOf(it.record);
    if (n === 0 || paths.length === 0) continue;
    for (let c = 1; c <= n; c++) {
      const rng = new SeededRandom((options.seed * 1000003 + k * 7919 + c) % 2147483647);
      const params = drawAugmentParams(rng);
      const rename = new Map<string, string>();
      for (const p of paths) {
        const jpeg = /\.jpe?g$/i.test(p);
        const rel = `images/augmented/${String(k).padStart(5, "0")}-${c}-${basename(p, extname(p))}.${jpeg ? "jpg" : "png"}`;
        const bytes = await augmentImage(join(options.outDir, p), params, jpeg ? "jpeg" : "png");
        writeFileSync(join(options.outDir, rel), bytes);
        rename.set(p, rel);
        copies.push({ source: p, path: rel, label: it.label, params });
      }
      out.push({ ...it, record: mapImagePaths(it.record, (p) => rename.get(p) ?? p) });
    }
  }
  return { records: out, copies };
}

/** Path of the placeholder image inside the output folder. */
export const PLACEHOLDER_PATH = "images/placeholder-224.png";

/** Gives every record without an image a black placeholder (first user message), writing it once. */
export async function addPlaceholders(items: ConvertedRecord[], outDir: string, size = 224): Promise<{ records: ConvertedRecord[]; added: number }> {
  let added = 0;
  const path = size === 224 ? PLACEHOLDER_PATH : `images/placeholder-${size}.png`;
  const records = items.map((it) => {
    if (it.record.text !== undefined || imagePathsOf(it.record).length) return it;
    const i = it.record.messages.findIndex((m) => m.role === "user");
    if (i < 0) return it;
    added++;
    const m = it.record.messages[i]!;
    const parts: RecordContentPart[] = typeof m.content === "string" ? [{ type: "text", text: m.content }] : (m.content ?? []);
    const messages = it.record.messages.slice();
    messages[i] = { ...m, content: [{ type: "image", path }, ...parts] };
    return { ...it, record: { ...it.record, messages } };
  });
  if (added) await writePlaceholder(join(outDir, path), size);
  return { records, added };
}
