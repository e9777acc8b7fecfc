// Readers: JSON, JSONL, CSV, Parquet files and folders of them → rows with their file and line.
// Converters turn rows into chat records; every error names the file and the line.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { InputError } from "../../util/errors.js";
import { RowIssues } from "../issues.js";
import { parseCsv } from "./csv.js";
import { parseJsonLocated } from "./json-located.js";

/** One input row (usually an object) and where it came from. */
export interface SourceRow {
  /** The parsed row. CSV cells are strings; JSON/Parquet keep their types. */
  value: unknown;
  /** File it was read from. */
  file: string;
  /** 1-based line where the row starts (JSON/JSONL/CSV) or 1-based row number (Parquet). */
  line: number;
}

/** File extensions the tabular readers understand. */
export const TABLE_EXTENSIONS = [".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet"];

/** Options of {@link readRows}. */
export interface ReadRowsOptions {
  /** Bad rows: error (default) or skip-and-record. */
  issues?: RowIssues;
  /** Extensions to pick up when `path` is a folder (default {@link TABLE_EXTENSIONS}). */
  extensions?: string[];
}

/** Reads a file, or every matching file under a folder (recursively, in sorted order), into rows. */
export async function readRows(path: string, options: ReadRowsOptions = {}): Promise<SourceRow[]> {
  const issues = options.issues ?? new RowIssues();
  const files = listFiles(path, options.extensions ?? TABLE_EXTENSIONS);
  const rows: SourceRow[] = [];
  for (const file of files) rows.push(...(await readFileRows(file, issues)));
  return rows;
}

/** The files to read: `path` itself, or the files under a folder with one of `extensions`. */
export function listFiles(path: string, extensions: string[]): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new InputError("no such file or folder", { file: path });
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".")) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (extensions.includes(extname(name).toLowerCase())) out.push(p);
    }
  };
  walk(path);
  if (out.length === 0) throw new InputError(`no ${extensions.join("/")} files in this folder`, { file: path });
  return out;
}

/** A file's text, or an InputError naming it (missing, a folder, unreadable). */
export function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder, expected a file" : (err as Error).message;
    throw new InputError(why, { file });
  }
}

/** Reads one file by its extension. */
export async function readFileRows(file: string, issues = new RowIssues()): Promise<SourceRow[]> {
  const ext = extname(file).toLowerCase();
  if (ext === ".parquet") return readParquetRows(file);
  const text = readText(file);
  if (ext === ".jsonl" || ext === ".ndjson") return readJsonlText(text, file, issues);
  if (ext === ".csv" || ext === ".tsv") {
    return parseCsv(text, file, issues).rows.map((r) => ({ value: r.values, file, line: r.line }));
  }
  if (ext === ".json") return readJsonText(text, file);
  throw new InputError(`unsupported file type "${ext}" (expected ${TABLE_EXTENSIONS.join(", ")})`, { file });
}

/** JSONL: one JSON value per non-blank line. A bad line is reported with its number. */
export function readJsonlText(text: string, file: string, issues = new RowIssues()): SourceRow[] {
  const lines = text.split("\n");
  const rows: SourceRow[] = [];
  lines.forEach((raw, k) => {
    const lineText = k === 0 ? raw.replace(/^\uFEFF/, "") : raw;
    if (lineText.trim() === "") return;
    try {
      rows.push({ value: JSON.parse(lineText), file, line: k + 1 });
    } catch (err) {
      issues.bad(`invalid JSON: ${(err as Error).message}`, { file, line: k + 1 });
    }
  });
  if (rows.length === 0 && issues.skipped.length === 0)
    throw new InputError("the file is empty (no JSON lines)", { file });
  return rows;
}

/**
 * A JSON file: an array of rows; an object of equally long column arrays (pandas `orient="list"`);
 * an object holding the row array under `data`, `rows`, `records` or `examples`; or one row.
 */
export function readJsonText(text: string, file: string): SourceRow[] {
  const { value, lineOf } = parseJsonLocated(text, file);
  const at = (v: unknown, fallback: number) => lineOf(v) ?? fallback;
  if (Array.isArray(value)) {
    if (value.length === 0) throw new InputError("the JSON array is empty", { file, line: at(value, 1) });
    return value.map((v) => ({ value: v, file, line: at(v, at(value, 1)) }));
  }
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    for (const key of ["data", "rows", "records", "examples"]) {
      const inner = obj[key];
      if (Array.isArray(inner)) return inner.map((v) => ({ value: v, file, line: at(v, at(inner, 1)) }));
    }
    const cols = Object.values(obj);
    if (cols.length > 0 && cols.every((c) => Array.isArray(c) && c.length === (cols[0] as unknown[]).length)) {
      const keys = Object.keys(obj);
      const n = (cols[0] as unknown[]).length;
      return Array.from({ length: n }, (_, i) => ({
        value: Object.fromEntries(keys.map((k) => [k, (obj[k] as unknown[])[i]])),
        file,
        line: at(value, 1),
      }));
    }
  }
  return [{ value, file, line: at(value, 1) }];
}

/** Parquet through nodejs-polars; `line` is the 1-based row number. */
export async function readParquetRows(file: string): Promise<SourceRow[]> {
  const pl = (await import("nodejs-polars")).default;
  let records: Record<string, unknown>[];
  try {
    records = pl.readParquet(file).toRecords();
  } catch (err) {
    throw new InputError(`cannot read Parquet: ${(err as Error).message}`, { file });
  }
  if (records.length === 0) throw new InputError("the Parquet file has no rows", { file });
  return records.map((value, k) => ({ value, file, line: k + 1 }));
}
