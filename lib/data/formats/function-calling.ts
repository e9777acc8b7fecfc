// function-calling: CaficulBot's `{"query", "function"}` rows (sergioq2/functioncalling_coffedata),
// where `function` is a JSON string `{"tool": …, "argumentos"|"arguments": …}` and the arguments are a
// JSON object, a JSON string of one, or a `k=v, k=v` string → a user turn and an assistant turn with
// one OpenAI tool call whose arguments are a JSON object. Tool schemas come from `--tools` or are
// inferred from all calls in the data.
import type { ToolSchema } from "../../chat/types.js";
import { InputError } from "../../util/errors.js";
import { readRows, type SourceRow } from "../read/rows.js";
import { withSystem } from "../record.js";
import { inferToolSchemas } from "../tools.js";
import { findKey, requireString, rowObject, typeName } from "./fields.js";
import type { ConvertOptions, ConvertedRecord, Converter } from "./types.js";

/** A parsed call. */
export interface ParsedCall {
  name: string;
  arguments: Record<string, unknown>;
}

/**
 * Parses `k=v, k=v` text. A piece without "=" continues the previous value (so "nota=abono, cal"
 * keeps its comma); quotes around a value are removed; a value written exactly as a number
 * (String(Number(v)) === v) becomes a number, anything else stays a string ("0123" stays text).
 */
export function parseKeyValueArguments(text: string): Record<string, unknown> | undefined {
  const pieces = splitTopLevel(text);
  const out: Record<string, string> = {};
  let last: string | undefined;
  for (const piece of pieces) {
    const eq = piece.indexOf("=");
    if (eq <= 0) {
      if (last === undefined) return undefined;
      out[last] += "," + piece;
      continue;
    }
    last = piece.slice(0, eq).trim();
    if (!/^[\p{L}\p{N}_.\-]+$/u.test(last)) return undefined;
    out[last] = piece.slice(eq + 1);
  }
  return Object.fromEntries(
    Object.entries(out).map(([k, raw]) => {
      let v = raw.trim();
      const q = v[0];
      if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) return [k, v.slice(1, -1)];
      return [k, v !== "" && String(Number(v)) === v ? Number(v) : v];
    }),
  );
}

function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.filter((p) => p.trim() !== "");
}

/** Parses the `function` field of a row. */
export function parseFunctionField(v: unknown, row: SourceRow): ParsedCall {
  const where = { file: row.file, line: row.line, field: "function" };
  let fn = v;
  if (typeof fn === "string") {
    try {
      fn = JSON.parse(fn);
    } catch (err) {
      throw new InputError(`not valid JSON: ${(err as Error).message}`, where);
    }
  }
  if (!fn || typeof fn !== "object" || Array.isArray(fn))
    throw new InputError(`expected a JSON object {"tool", "argumentos"}, found ${typeName(fn)}`, where);
  const o = fn as Record<string, unknown>;
  const name = o.tool ?? o.name;
  if (typeof name !== "string" || name.trim() === "") throw new InputError('needs a "tool" name string', where);
  const raw = "argumentos" in o ? o.argumentos : "arguments" in o ? o.arguments : o.parameters;
  return { name: name.trim(), arguments: parseArgumentsValue(raw, where) };
}

function parseArgumentsValue(raw: unknown, where: { file: string; line: number; field: string }): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw === "object" && !Array.isArray(raw)) return raw as Record<string, unknown>;
  if (typeof raw !== "string") throw new InputError(`arguments must be an object or a string, found ${typeName(raw)}`, where);
  const text = raw.trim();
  if (text === "") return {};
  if (text.startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // fall through to the error below
    }
    throw new InputError(`arguments look like JSON but are not a valid JSON object: ${text.slice(0, 60)}`, where);
  }
  const kv = parseKeyValueArguments(text);
  if (!kv) throw new InputError(`arguments are neither a JSON object nor "k=v, k=v" text: ${text.slice(0, 60)}`, where);
  return kv;
}

/** Converts query/function rows; tools are `options.tools` or inferred from every parsed call. */
export function convertFunctionCallingRows(rows: SourceRow[], options: ConvertOptions): ConvertedRecord[] {
  const parsed: Array<{ row: SourceRow; query: string; call: ParsedCall }> = [];
  for (const row of rows) {
    const item = options.issues.row(() => {
      const obj = rowObject(row);
      const keys = Object.keys(obj);
      const qKey = findKey(keys, ["query", "consulta", "question", "pregunta", "prompt", "input"]) ?? "query";
      const fKey = findKey(keys, ["function", "funcion", "función", "function_call", "tool_call"]) ?? "function";
      const query = requireString(obj, qKey, row);
      if (obj[fKey] === undefined || obj[fKey] === null) throw new InputError("missing", { file: row.file, line: row.line, field: fKey });
      return { row, query, call: parseFunctionField(obj[fKey], row) };
    });
    if (item) parsed.push(item);
  }
  const tools: ToolSchema[] = options.tools ?? inferToolSchemas(parsed.map((p) => p.call));
  const known = new Set(tools.map((t) => t.function.name));
  const out: ConvertedRecord[] = [];
  for (const { row, query, call } of parsed) {
    const ok = options.issues.row(() => {
      if (!known.has(call.name))
        throw new InputError(`calls tool "${call.name}", which is not in --tools`, { file: row.file, line: row.line, field: "function" });
      return true;
    });
    if (!ok) continue;
    const messages = withSystem(
      [
        { role: "user", content: query },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_0", type: "function", function: { name: call.name, arguments: call.arguments } }],
        },
      ],
      options.system,
    );
    out.push({ record: { messages, tools }, origin: { file: row.file, line: row.line } });
  }
  return out;
}

export const functionCallingConverter: Converter = {
  name: "function-calling",
  description: '{"query", "function": "{\\"tool\\", \\"argumentos\\"}"} rows → assistant tool calls (tools from --tools or inferred)',
  async convert(input, options) {
    return convertFunctionCallingRows(await readRows(input, { issues: options.issues }), options);
  },
};
