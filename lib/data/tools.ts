// Tool schemas: normalising the shapes people write them in, and inferring a JSON schema from the
// calls seen in a dataset when no schema is supplied.
import type { ToolSchema } from "../chat/types.js";
import { InputError } from "../util/errors.js";
import { parseJsonLocated } from "./read/json-located.js";
import { readText } from "./read/rows.js";

/**
 * Normalises one tool description to the OpenAI `{type: "function", function: {...}}` shape; also
 * accepts the bare `{name, description, parameters}` shape (glaive, LLaMA-Factory).
 */
export function normalizeTool(v: unknown, where: { file?: string; line?: number }): ToolSchema {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new InputError("a tool must be a JSON object", where);
  const o = v as Record<string, unknown>;
  const fn = (o.type === "function" && o.function && typeof o.function === "object" ? o.function : o) as Record<string, unknown>;
  if (typeof fn.name !== "string" || fn.name === "") throw new InputError('a tool needs a "name" string', where);
  if (fn.parameters !== undefined && (typeof fn.parameters !== "object" || fn.parameters === null || Array.isArray(fn.parameters)))
    throw new InputError(`tool "${fn.name}": "parameters" must be a JSON schema object`, where);
  if (fn.description !== undefined && typeof fn.description !== "string")
    throw new InputError(`tool "${fn.name}": "description" must be a string`, where);
  return {
    type: "function",
    function: {
      name: fn.name,
      ...(fn.description !== undefined ? { description: fn.description as string } : {}),
      ...(fn.parameters !== undefined ? { parameters: fn.parameters as Record<string, unknown> } : {}),
    },
  };
}

/** Normalises a list of tools given as an array or as a JSON string of one (glaive's `tools` field). */
export function normalizeToolList(v: unknown, where: { file?: string; line?: number }): ToolSchema[] {
  let list = v;
  if (typeof list === "string") {
    if (list.trim() === "") return [];
    try {
      list = JSON.parse(list);
    } catch (err) {
      throw new InputError(`"tools" is not valid JSON: ${(err as Error).message}`, { ...where, field: "tools" });
    }
  }
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) list = [list];
  return (list as unknown[]).map((t) => normalizeTool(t, where));
}

/** Reads `--tools tools.json`: an array of tools (either shape) or `{"tools": [...]}`. */
export function readToolsFile(file: string): ToolSchema[] {
  const { value, lineOf } = parseJsonLocated(readText(file), file);
  const list = value && typeof value === "object" && !Array.isArray(value) && "tools" in value ? (value as { tools: unknown }).tools : value;
  if (!Array.isArray(list)) throw new InputError("expected an array of tools", { file, line: 1 });
  return list.map((t) => normalizeTool(t, { file, line: lineOf(t) }));
}

/** JSON-schema type name of a value. */
function schemaType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/**
 * Infers one schema per tool from the calls seen: every argument key becomes a property typed by the
 * values seen (integer widens to number; mixed types give a list of types); keys present in every call
 * are `required`. Tools come out sorted by name so the result does not depend on row order.
 */
export function inferToolSchemas(calls: Array<{ name: string; arguments: Record<string, unknown> }>): ToolSchema[] {
  const byName = new Map<string, { count: number; keys: Map<string, { count: number; types: Set<string> }> }>();
  for (const c of calls) {
    let t = byName.get(c.name);
    if (!t) byName.set(c.name, (t = { count: 0, keys: new Map() }));
    t.count++;
    for (const [k, v] of Object.entries(c.arguments)) {
      let e = t.keys.get(k);
      if (!e) t.keys.set(k, (e = { count: 0, types: new Set() }));
      e.count++;
      e.types.add(schemaType(v));
    }
  }
  return [...byName.keys()].sort().map((name) => {
    const t = byName.get(name)!;
    const keys = [...t.keys.keys()].sort();
    const properties = Object.fromEntries(
      keys.map((k) => {
        const types = t.keys.get(k)!.types;
        if (types.has("integer") && types.has("number")) types.delete("integer");
        const list = [...types].sort();
        return [k, { type: list.length === 1 ? list[0] : list }];
      }),
    );
    const required = keys.filter((k) => t.keys.get(k)!.count === t.count);
    return {
      type: "function" as const,
      function: { name, parameters: { type: "object", properties, required } },
    };
  });
}
