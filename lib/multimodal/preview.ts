// A look at image questions for notebooks and reports: a contact sheet of the images captioned with their
// answers, and each record's token sequence as the model sees it, the image slots shown as one marker.
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic.js";
import { contactSheet } from "../data/images/contact-sheet.js";
import { messageText, type ChatRecord } from "../data/record.js";
import type { RenderFn } from "../data/tokenize.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { imageInput, jsonlBaseDir } from "./generate.js";
import { tokenizeImageRecord, withMediaMarkers, type ImageTokenSpec } from "./tokenize.js";

/** Options of {@link imageQuestionsPreview}. */
export interface ImagePreviewOptions {
  /** Prepared messages JSONL with images. */
  data: string;
  /** Records to show (default 6). */
  limit?: number;
  /** PNG path of the contact sheet. */
  sheet: string;
  /** With a model's tokenizer and template: each record's token layout (slots collapsed). */
  layout?: { tokenizer: Tokenizer; render: RenderFn; image: ImageTokenSpec };
}

/** One previewed record. */
export interface ImagePreviewRow {
  question: string;
  answer: string;
  images: number;
  /** Tokens (total), trained tokens, and the sequence with "[image × N]" for the slots. */
  tokens?: number;
  trained?: number;
  layout?: string;
}

/** Contact sheet + rows for the first records of an image dataset. */
export async function imageQuestionsPreview(
  o: ImagePreviewOptions,
): Promise<{ sheet: string; rows: ImagePreviewRow[] }> {
  const lines = readFileSync(o.data, "utf8")
    .split(/\r?\n/)
    .filter((l) => l.trim());
  const records = lines.slice(0, o.limit ?? 6).map((l) => JSON.parse(l) as ChatRecord);
  const base = jsonlBaseDir(o.data);
  const items: Array<{ image: string | Buffer; caption: string }> = [];
  const rows = records.map((r): ImagePreviewRow => {
    const { images } = withMediaMarkers(r);
    const answer = messageText(
      [...r.messages].reverse().find((m) => m.role === "assistant") ?? { role: "assistant", content: "" },
    );
    const question = r.messages
      .filter((m) => m.role === "user")
      .map(messageText)
      .join(" / ");
    for (const im of images) {
      const input = imageInput(im, base);
      items.push({ image: typeof input === "string" ? input : Buffer.from(input), caption: answer });
    }
    const row: ImagePreviewRow = { question, answer, images: images.length };
    if (o.layout) {
      const t = tokenizeImageRecord(r, o.layout);
      if (!("dropped" in t)) {
        row.tokens = t.ids.length;
        row.trained = t.mask.filter((m) => m === 1).length;
        let text = "";
        let at = 0;
        for (const im of t.images) {
          text += o.layout.tokenizer.decode(t.ids.slice(at, im.column)) + `[image × ${im.count}]`;
          at = im.column + im.count;
        }
        row.layout = text + o.layout.tokenizer.decode(t.ids.slice(at));
      }
    }
    return row;
  });
  writeFileAtomic(
    o.sheet,
    await contactSheet(items, { columns: Math.min(6, Math.max(1, items.length)), tile: 112 }),
  );
  return { sheet: o.sheet, rows };
}
