// CSV (RFC 4180) with the starting line of every row, so errors name the line. Quoted fields may
// hold commas, quotes ("") and newlines. The delimiter (comma, semicolon or tab) is sniffed from the
// header line.
import { InputError } from "../../util/errors.js";
import type { RowIssues } from "../issues.js";

/** One CSV data row: header names → cell text, and the line where the row starts. */
export interface CsvRow {
  values: Record<string, string>;
  line: number;
}

/**
 * Parses CSV text with a header row. Empty input, a bad header or an unclosed quote is an InputError
 * naming `file` and the line; a row with the wrong number of cells goes to `issues` (an error, or
 * skipped and recorded with --skip-bad).
 */
export function parseCsv(text: string, file: string, issues?: RowIssues): { header: string[]; rows: CsvRow[] } {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (src.trim() === "") throw new InputError("the file is empty (no CSV header)", { file });
  const firstLine = src.slice(0, src.search(/\r?\n|$/));
  const delimiter = [",", ";", "\t"].reduce((best, d) =>
    firstLine.split(d).length > firstLine.split(best).length ? d : best,
  );

  const records: Array<{ cells: string[]; line: number }> = [];
  let line = 1;
  let i = 0;
  while (i < src.length) {
    const start = line;
    const cells: string[] = [];
    for (;;) {
      let cell = "";
      if (src[i] === '"') {
        const openLine = line;
        i++;
        for (;;) {
          if (i >= src.length) throw new InputError("unclosed quoted field", { file, line: openLine });
          const ch = src[i]!;
          if (ch === '"') {
            if (src[i + 1] === '"') {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === "\n") line++;
          cell += ch;
          i++;
        }
        if (i < src.length && src[i] !== delimiter && src[i] !== "\n" && src[i] !== "\r")
          throw new InputError(`unexpected text after a closing quote`, { file, line });
      } else {
        while (i < src.length && src[i] !== delimiter && src[i] !== "\n" && src[i] !== "\r") cell += src[i++];
      }
      cells.push(cell);
      if (src[i] === delimiter) {
        i++;
        continue;
      }
      if (src[i] === "\r") i++;
      if (src[i] === "\n") {
        i++;
        line++;
      }
      break;
    }
    if (!(cells.length === 1 && cells[0] === "")) records.push({ cells, line: start });
  }

  const [head, ...body] = records;
  const header = head!.cells.map((h) => h.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (h === "") throw new InputError("empty column name in the header", { file, line: head!.line });
    if (seen.has(h)) throw new InputError(`duplicate column "${h}" in the header`, { file, line: head!.line });
    seen.add(h);
  }
  const rows: CsvRow[] = [];
  for (const { cells, line: at } of body) {
    if (cells.length !== header.length) {
      const message = `expected ${header.length} cells (as the header), found ${cells.length}`;
      if (!issues) throw new InputError(message, { file, line: at });
      issues.bad(message, { file, line: at });
      continue;
    }
    rows.push({ values: Object.fromEntries(header.map((h, k) => [h, cells[k]!])), line: at });
  }
  return { header, rows };
}
