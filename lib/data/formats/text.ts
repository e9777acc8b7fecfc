// text: raw text for continued pretraining or style — JSONL/JSON/CSV/Parquet rows with a `text`
// column, or .txt/.md files cut into chunks of at most `chunkChars` characters at paragraph breaks
// (a paragraph longer than that is cut at line breaks, then at spaces).
import { extname } from "node:path";
import { InputError } from "../../util/errors.js";
import { listFiles, readRows, readText, TABLE_EXTENSIONS } from "../read/rows.js";
import { requireString, rowObject } from "./fields.js";
import type { ConvertOptions, ConvertedRecord, Converter } from "./types.js";

const TEXT_EXTENSIONS = [".txt", ".md"];

/** Cuts text into chunks of at most `max` characters, preferring paragraph, then line, then word breaks. */
export function chunkText(text: string, max: number): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let cur = "";
  let curLine = 1;
  let line = 1;
  const flush = () => {
    if (cur.trim()) out.push({ text: cur.trim(), line: curLine });
    cur = "";
  };
  for (const para of text.split(/(\n\s*\n)/)) {
    const startLine = line;
    line += (para.match(/\n/g) ?? []).length;
    if (/^\n\s*\n$/.test(para)) continue;
    if (cur && cur.length + 2 + para.length > max) flush();
    if (!cur) curLine = startLine;
    if (para.length <= max) {
      cur = cur ? `${cur}\n\n${para}` : para;
      continue;
    }
    flush();
    let rest = para;
    let restLine = startLine;
    while (rest.length > max) {
      let cut = rest.lastIndexOf("\n", max);
      if (cut <= 0) cut = rest.lastIndexOf(" ", max);
      if (cut <= 0) cut = max;
      out.push({ text: rest.slice(0, cut).trim(), line: restLine });
      restLine += (rest.slice(0, cut).match(/\n/g) ?? []).length;
      rest = rest.slice(cut);
    }
    cur = rest;
    curLine = restLine;
  }
  flush();
  return out.filter((c) => c.text !== "");
}

export const textConverter: Converter = {
  name: "text",
  description: "raw text for continued pretraining: JSONL {text} rows or .txt files (chunked at paragraphs)",
  async convert(input, options: ConvertOptions) {
    const out: ConvertedRecord[] = [];
    const max = options.chunkChars ?? 2000;
    for (const file of listFiles(input, [...TEXT_EXTENSIONS, ...TABLE_EXTENSIONS])) {
      if (TEXT_EXTENSIONS.includes(extname(file).toLowerCase())) {
        const text = readText(file);
        const chunks = chunkText(text, max);
        if (chunks.length === 0) options.issues.bad("the file is empty (no text)", { file });
        for (const c of chunks) out.push({ record: { messages: [], text: c.text }, origin: { file, line: c.line } });
        continue;
      }
      for (const row of await readRows(file, { issues: options.issues })) {
        const text = options.issues.row(() => requireString(rowObject(row), "text", row));
        if (text !== undefined) out.push({ record: { messages: [], text }, origin: { file: row.file, line: row.line } });
      }
    }
    if (out.length === 0 && !options.issues.skipped.length) throw new InputError("no text found", { file: input });
    return out;
  },
};
