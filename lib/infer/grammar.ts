// JSON-schema-constrained generation: user schemas (OpenAI response_format, tool parameters) are reduced
// to the subset node-llama-cpp's GBNF generator understands, then compiled with
// llama.createGrammarForJsonSchema. Keywords it cannot enforce (pattern, numeric ranges) are dropped;
// the output is validated against the full schema afterwards where it matters.
import type { GbnfJsonSchema, Llama, LlamaGrammar } from "node-llama-cpp";
import type { ToolSchema } from "../chat/types.js";
import type { ToolCallFormat } from "./chat-prompt.js";
import { InputError } from "../util/errors.js";

type Schema = Record<string, unknown>;
const IMMUTABLE = ["string", "number", "integer", "boolean", "null"];

const ANY_VALUE: Schema = {
  oneOf: [
    { type: ["string", "number", "boolean", "null"] },
    { type: "object", additionalProperties: true },
    { type: "array" },
  ],
};

/** Reduces a JSON schema to the subset node-llama-cpp turns into a grammar. */
export function toGbnfSchema(schema: unknown, path = "schema"): Schema {
  if (schema === true || schema === undefined) return ANY_VALUE;
  if (schema === false || schema === null || typeof schema !== "object" || Array.isArray(schema))
    throw new InputError(`unsupported JSON schema node`, { field: path });
  const s = schema as Schema;
  const out: Schema = {};
  if (typeof s.description === "string") out.description = s.description;
  const defs = (s.$defs ?? s.definitions) as Record<string, unknown> | undefined;
  if (defs && typeof defs === "object")
    out.$defs = Object.fromEntries(
      Object.entries(defs).map(([k, v]) => [k, toGbnfSchema(v, `${path}.$defs.${k}`)]),
    );
  if (typeof s.$ref === "string") {
    const m = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(s.$ref);
    if (!m)
      throw new InputError(`only local $ref to #/$defs/… is supported, got "${s.$ref}"`, { field: path });
    return { ...out, $ref: `#/$defs/${m[1]}` };
  }
  if ("const" in s) return { ...out, const: s.const };
  if (Array.isArray(s.enum)) return { ...out, enum: s.enum };
  const alternatives = (s.oneOf ?? s.anyOf) as unknown[] | undefined;
  if (Array.isArray(alternatives))
    return { ...out, oneOf: alternatives.map((a, i) => toGbnfSchema(a, `${path}.oneOf[${i}]`)) };
  if (Array.isArray(s.allOf)) return toGbnfSchema(mergeAllOf(s), path);
  const type = s.type;
  if (Array.isArray(type)) {
    if (type.every((t) => IMMUTABLE.includes(t as string))) return { ...out, type };
    return { ...out, oneOf: type.map((t) => toGbnfSchema({ ...s, type: t }, path)) };
  }
  switch (type) {
    case undefined:
      if (s.properties) return toGbnfSchema({ ...s, type: "object" }, path);
      return { ...ANY_VALUE, ...out };
    case "string": {
      const str: Schema = { ...out, type: "string" };
      if (typeof s.minLength === "number") str.minLength = s.minLength;
      if (typeof s.maxLength === "number") str.maxLength = s.maxLength;
      if (s.format === "date-time" || s.format === "date" || s.format === "time") str.format = s.format;
      return str;
    }
    case "number":
    case "integer":
    case "boolean":
    case "null":
      return { ...out, type };
    case "array": {
      const arr: Schema = { ...out, type: "array" };
      if (s.items !== undefined && typeof s.items === "object" && !Array.isArray(s.items))
        arr.items = toGbnfSchema(s.items, `${path}.items`);
      if (Array.isArray(s.prefixItems))
        arr.prefixItems = s.prefixItems.map((p, i) => toGbnfSchema(p, `${path}.prefixItems[${i}]`));
      if (typeof s.minItems === "number") arr.minItems = s.minItems;
      if (typeof s.maxItems === "number") arr.maxItems = s.maxItems;
      return arr;
    }
    case "object": {
      const obj: Schema = { ...out, type: "object" };
      const props = s.properties as Record<string, unknown> | undefined;
      if (props && Object.keys(props).length) {
        obj.properties = Object.fromEntries(
          Object.entries(props).map(([k, v]) => [k, toGbnfSchema(v, `${path}.properties.${k}`)]),
        );
        if (Array.isArray(s.required)) obj.required = s.required;
        if (s.additionalProperties && typeof s.additionalProperties === "object")
          obj.additionalProperties = toGbnfSchema(s.additionalProperties, `${path}.additionalProperties`);
      } else {
        // No declared properties: any object (JSON Schema's default), not only {}.
        obj.additionalProperties =
          s.additionalProperties && typeof s.additionalProperties === "object"
            ? toGbnfSchema(s.additionalProperties, `${path}.additionalProperties`)
            : s.additionalProperties !== false;
      }
      return obj;
    }
    default:
      throw new InputError(`unsupported JSON schema type "${String(type)}"`, { field: path });
  }
}

function mergeAllOf(s: Schema): Schema {
  const merged: Schema = { ...s };
  delete merged.allOf;
  for (const part of s.allOf as Schema[]) {
    for (const [k, v] of Object.entries(part)) {
      if (k === "properties") merged.properties = { ...(merged.properties as Schema), ...(v as Schema) };
      else if (k === "required")
        merged.required = [...((merged.required as string[]) ?? []), ...(v as string[])];
      else merged[k] ??= v;
    }
  }
  return merged;
}

/** A grammar that only admits JSON matching the schema. */
export async function jsonSchemaGrammar(llama: Llama, schema: unknown): Promise<LlamaGrammar> {
  const reduced = toGbnfSchema(schema);
  try {
    // The reduced schema is only known at run time; node-llama-cpp's generic type wants a literal.
    const create = llama.createGrammarForJsonSchema.bind(llama) as (
      s: GbnfJsonSchema,
    ) => Promise<LlamaGrammar>;
    return await create(reduced as GbnfJsonSchema);
  } catch (err) {
    throw new InputError(`cannot build a grammar from the JSON schema: ${(err as Error).message}`, {
      field: "schema",
    });
  }
}

/** A grammar that admits any JSON object (response_format json_object). */
export function jsonObjectGrammar(llama: Llama): Promise<LlamaGrammar> {
  return jsonSchemaGrammar(llama, { type: "object" });
}

/** The JSON schema of one tool call in the template's format, restricted to the given tools. */
export function toolCallSchema(
  tools: readonly ToolSchema[],
  format: Pick<ToolCallFormat, "argumentsKey">,
): Schema {
  if (tools.length === 0)
    throw new InputError("a forced tool call needs at least one tool", { field: "tools" });
  const alternatives = tools.map((t) => ({
    type: "object",
    properties: {
      name: { const: t.function.name },
      [format.argumentsKey]: t.function.parameters ?? { type: "object" },
    },
    required: ["name", format.argumentsKey],
  }));
  return alternatives.length === 1 ? alternatives[0] : { oneOf: alternatives };
}
