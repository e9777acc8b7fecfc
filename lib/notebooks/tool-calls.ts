// Tables of 03-function-calling: the tools' schemas in rows, and the calls in a dataset counted per
// tool with their arguments checked against the schema (required arguments present, no unknown ones,
// JSON types as declared). `data verify` checks structure and tool names; this adds the argument check.
import type { ToolSchema } from "../chat/types.js";
import type { ChatRecord } from "../data/record.js";

/** One parameter of a tool, as a table row. */
export type ToolParameterRow = {
  tool: string;
  parameter: string;
  type: string;
  required: boolean;
  description: string;
};

interface JsonSchemaObject {
  properties?: Record<string, { type?: string | string[]; description?: string; enum?: unknown[] }>;
  required?: string[];
}

const schemaOf = (t: ToolSchema) => (t.function.parameters ?? {}) as JsonSchemaObject;

/** Every parameter of every tool, one row each. */
export function toolParameterRows(tools: readonly ToolSchema[]): ToolParameterRow[] {
  return tools.flatMap((t) => {
    const s = schemaOf(t);
    const required = new Set(s.required ?? []);
    return Object.entries(s.properties ?? {}).map(([name, p]) => ({
      tool: t.function.name,
      parameter: name,
      type:
        (Array.isArray(p.type) ? p.type.join("|") : (p.type ?? "any")) +
        (p.enum ? ` (${p.enum.length} values)` : ""),
      required: required.has(name),
      description: p.description ?? "",
    }));
  });
}

/** Calls of one tool in a dataset and how many break its schema. */
export type ToolCallCount = {
  tool: string;
  calls: number;
  /** Calls missing a required argument. */
  missingRequired: number;
  /** Calls passing an argument the schema does not declare. */
  unknownArguments: number;
  /** Calls with an argument whose JSON type differs from the declared one. */
  wrongType: number;
  /** False when the tool is not in `tools` at all. */
  known: boolean;
};

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeMatches(declared: string | string[] | undefined, value: unknown): boolean {
  if (declared === undefined) return true;
  const actual = jsonType(value);
  const ok = (d: string) => d === actual || (d === "number" && actual === "integer");
  return Array.isArray(declared) ? declared.some(ok) : ok(declared);
}

/** Counts the assistant tool calls per tool and checks their arguments against `tools`. Sorted by calls. */
export function countToolCalls(
  records: readonly ChatRecord[],
  tools: readonly ToolSchema[],
): ToolCallCount[] {
  const byName = new Map(tools.map((t) => [t.function.name, schemaOf(t)]));
  const counts = new Map<string, ToolCallCount>();
  for (const t of tools)
    counts.set(t.function.name, {
      tool: t.function.name,
      calls: 0,
      missingRequired: 0,
      unknownArguments: 0,
      wrongType: 0,
      known: true,
    });
  for (const r of records)
    for (const m of r.messages)
      for (const call of m.tool_calls ?? []) {
        const name = call.function.name;
        const schema = byName.get(name);
        let row = counts.get(name);
        if (!row) {
          row = { tool: name, calls: 0, missingRequired: 0, unknownArguments: 0, wrongType: 0, known: false };
          counts.set(name, row);
        }
        row.calls++;
        if (!schema) continue;
        const raw = call.function.arguments;
        let args: Record<string, unknown>;
        try {
          args = typeof raw === "string" ? (JSON.parse(raw) as Record<string, unknown>) : raw;
        } catch {
          row.wrongType++;
          continue;
        }
        const props = schema.properties ?? {};
        if ((schema.required ?? []).some((k) => !(k in args))) row.missingRequired++;
        if (Object.keys(args).some((k) => !(k in props))) row.unknownArguments++;
        if (Object.entries(args).some(([k, v]) => k in props && !typeMatches(props[k]!.type, v)))
          row.wrongType++;
      }
  return [...counts.values()].sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool));
}
