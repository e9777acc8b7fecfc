// Typed access to fields of an input row, with errors that name file, line and field.
import { InputError } from "../../util/errors.js";
import type { SourceRow } from "../read/rows.js";

/** Describes a JSON value's type for error messages ("array", "null", "number"…). */
export function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/** The row as an object, or an InputError. */
export function rowObject(row: SourceRow): Record<string, unknown> {
  const v = row.value;
  if (!v || typeof v !== "object" || Array.isArray(v))
    throw new InputError(`expected a JSON object, found ${typeName(v)}`, { file: row.file, line: row.line });
  return v as Record<string, unknown>;
}

/** A required non-empty string field. */
export function requireString(obj: Record<string, unknown>, key: string, row: SourceRow): string {
  const v = obj[key];
  const where = { file: row.file, line: row.line, field: key };
  if (v === undefined || v === null) throw new InputError("missing", where);
  if (typeof v !== "string") throw new InputError(`expected a string, found ${typeName(v)}`, where);
  if (v.trim() === "") throw new InputError("empty", where);
  return v;
}

/** An optional string field (absent/null → undefined; another type → InputError). */
export function optionalString(obj: Record<string, unknown>, key: string, row: SourceRow): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string")
    throw new InputError(`expected a string, found ${typeName(v)}`, { file: row.file, line: row.line, field: key });
  return v;
}

/** The first key of `obj` (case-insensitive) among `candidates`. */
export function findKey(keys: string[], candidates: string[]): string | undefined {
  const lower = new Map(keys.map((k) => [k.toLowerCase().trim(), k]));
  for (const c of candidates) {
    const k = lower.get(c);
    if (k !== undefined) return k;
  }
  return undefined;
}
