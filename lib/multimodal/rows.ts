// Training rows from a prepared image dataset (messages JSONL whose user turns hold image parts): each
// record is tokenized with its image slots (tokenize.ts), its images are preprocessed once (cached by
// file), and it becomes one row of maxSeq tokens (image rows are not packed: each row holds one record).
import { dirname } from "node:path";
import { readRows } from "../data/read/rows.js";
import { chatRender } from "../data/model-text.js";
import { FALLBACK_CHAT_TEMPLATE } from "../chat/template.js";
import type { ChatRecord } from "../data/record.js";
import { InputError, TunekitError } from "../util/errors.js";
import type { Model } from "../models/model.js";
import type { RenderFn } from "../data/tokenize.js";
import type { StepRow } from "../train/step-graph.js";
import { countTargets } from "../train/data.js";
import { imageInput } from "./generate.js";
import { tokenizeImageRecord, type ImageTokenSpec } from "./tokenize.js";

/** Options of {@link loadImageRows}. */
export interface ImageRowsOptions {
  /** Row length in tokens (records longer than this are dropped). */
  maxSeq: number;
  /** "assistant" (default) or "all". */
  trainOn: "assistant" | "all";
  /** How an image appears in the token sequence. */
  image: ImageTokenSpec;
  /** Preprocessing of one image (file path or bytes) into the encoder's input. */
  pixels: (input: string | Uint8Array) => Promise<Float32Array>;
}

/** Rows with images, and what was dropped. */
export interface ImageRows {
  rows: StepRow[];
  records: number;
  /** Records dropped (longer than maxSeq, or nothing to learn). */
  dropped: number;
  /** Target tokens over all rows. */
  targets: number;
  /** Most images in one row. */
  maxImagesPerRow: number;
  /** Distinct images read. */
  images: number;
}

/** The model's chat template as a render function (its own, else tunekit's ChatML fallback). */
export function modelRender(model: Model): RenderFn {
  const tok = model.tokenizer;
  return chatRender(model.chatTemplate ?? FALLBACK_CHAT_TEMPLATE, {
    bosToken: tok.bos !== undefined ? tok.tokenText(tok.bos) : "",
    eosToken: tok.eos !== undefined ? tok.tokenText(tok.eos) : "",
  });
}

/** Reads a prepared image dataset into training rows (see the file comment). */
export async function loadImageRows(path: string, model: Model, o: ImageRowsOptions): Promise<ImageRows> {
  const source = await readRows(path, { extensions: [".jsonl", ".json"] });
  if (source.length === 0) throw new InputError("no records", { file: path });
  const tok = model.tokenizer;
  const render = modelRender(model);
  const cache = new Map<string, Promise<Float32Array>>();
  const pad = tok.pad ?? tok.eos ?? 0;
  const rows: StepRow[] = [];
  let dropped = 0;
  for (const row of source) {
    const v = row.value as Record<string, unknown>;
    const where = { file: row.file, line: row.line };
    if (typeof v !== "object" || v === null || !Array.isArray(v.messages))
      throw new InputError('expected "messages" (a prepared image dataset)', { ...where, field: "messages" });
    let t;
    try {
      t = tokenizeImageRecord(v as unknown as ChatRecord, {
        tokenizer: tok,
        render,
        image: o.image,
        trainOn: o.trainOn,
        maxSeq: o.maxSeq,
      });
    } catch (e) {
      if (e instanceof TunekitError) throw new InputError(e.message, where);
      throw e;
    }
    if ("dropped" in t || !t.mask.some((m) => m === 1)) {
      dropped++;
      continue;
    }
    const images = [];
    for (const im of t.images) {
      const input = imageInput(im.ref, dirname(row.file));
      const key = typeof input === "string" ? input : `data:${im.ref.url}`;
      let p = cache.get(key);
      if (!p) cache.set(key, (p = o.pixels(input)));
      let pixels: Float32Array;
      try {
        pixels = await p;
      } catch (e) {
        throw new InputError(
          `image ${typeof input === "string" ? input : "(data URL)"}: ${(e as Error).message}`,
          where,
        );
      }
      images.push({ column: im.column, count: im.count, pixels });
    }
    const n = t.ids.length;
    const fill = <T>(xs: T[], v: T) => [...xs, ...new Array<T>(o.maxSeq - n).fill(v)];
    rows.push({
      ids: fill(t.ids, pad),
      mask: fill(t.mask, 0 as 0 | 1),
      segments: fill(new Array<number>(n).fill(1), 0),
      positions: fill(
        Array.from({ length: n }, (_, i) => i),
        0,
      ),
      images,
    });
  }
  if (rows.length === 0) throw new InputError("no record has anything to train on", { file: path });
  return {
    rows,
    records: rows.length,
    dropped,
    targets: rows.reduce((s, r) => s + countTargets(r), 0),
    maxImagesPerRow: Math.max(...rows.map((r) => r.images?.length ?? 0)),
    images: cache.size,
  };
}
