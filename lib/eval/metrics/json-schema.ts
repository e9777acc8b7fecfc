// A small JSON Schema validator (the keywords that describe data shapes: type, enum, const, properties,
// required, additionalProperties, items/prefixItems, lengths, ranges, pattern, allOf/anyOf/oneOf/not,
// local $ref). Enough to check generated JSON against a user's schema without another dependency.

/** A JSON schema (or a boolean schema). */
export type JsonSchema = boolean | { [keyword: string]: unknown };

/** One validation problem: where (JSON pointer) and what. */
export interface SchemaError {
  path: string;
  message: string;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === "number" && actual === "integer");
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

function resolveRef(root: JsonSchema, ref: string): JsonSchema {
  if (!ref.startsWith("#")) throw new Error(`only local $ref is supported, got "${ref}"`);
  let node: unknown = root;
  for (const raw of ref.slice(1).split("/").filter(Boolean)) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    node = (node as Record<string, unknown>)?.[key];
  }
  if (node === undefined) throw new Error(`$ref "${ref}" does not resolve`);
  return node as JsonSchema;
}

/** Validates a value; returns every problem found (empty when valid). */
export function validateJsonSchema(
  value: unknown,
  schema: JsonSchema,
  root: JsonSchema = schema,
  path = "",
): SchemaError[] {
  if (schema === true) return [];
  if (schema === false) return [{ path, message: "no value is allowed here" }];
  const s = schema;
  const errors: SchemaError[] = [];
  const fail = (message: string) => errors.push({ path: path || "/", message });
  if (typeof s.$ref === "string")
    errors.push(...validateJsonSchema(value, resolveRef(root, s.$ref), root, path));
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => typeMatches(value, t)))
      fail(`expected ${types.join(" or ")}, got ${typeOf(value)}`);
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => deepEqual(e, value)))
    fail(`must be one of ${JSON.stringify(s.enum)}`);
  if ("const" in s && !deepEqual(s.const, value)) fail(`must equal ${JSON.stringify(s.const)}`);
  if (typeof value === "string") {
    const len = Array.from(value).length;
    if (typeof s.minLength === "number" && len < s.minLength) fail(`shorter than ${s.minLength}`);
    if (typeof s.maxLength === "number" && len > s.maxLength) fail(`longer than ${s.maxLength}`);
    if (typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(value))
      fail(`does not match /${s.pattern}/`);
  }
  if (typeof value === "number") {
    if (typeof s.minimum === "number" && value < s.minimum) fail(`less than ${s.minimum}`);
    if (typeof s.maximum === "number" && value > s.maximum) fail(`greater than ${s.maximum}`);
    if (typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum)
      fail(`not greater than ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum)
      fail(`not less than ${s.exclusiveMaximum}`);
    if (
      typeof s.multipleOf === "number" &&
      Math.abs(value / s.multipleOf - Math.round(value / s.multipleOf)) > 1e-9
    )
      fail(`not a multiple of ${s.multipleOf}`);
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === "number" && value.length < s.minItems) fail(`fewer than ${s.minItems} items`);
    if (typeof s.maxItems === "number" && value.length > s.maxItems) fail(`more than ${s.maxItems} items`);
    const prefix = Array.isArray(s.prefixItems) ? (s.prefixItems as JsonSchema[]) : [];
    value.forEach((item, i) => {
      const itemSchema = i < prefix.length ? prefix[i] : (s.items as JsonSchema | undefined);
      if (itemSchema !== undefined)
        errors.push(...validateJsonSchema(item, itemSchema, root, `${path}/${i}`));
    });
    if (
      s.uniqueItems === true &&
      new Set(value.map((v) => JSON.stringify(sortKeys(v)))).size !== value.length
    )
      fail("items are not unique");
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    for (const key of Array.isArray(s.required) ? (s.required as string[]) : [])
      if (!(key in obj)) fail(`missing required property "${key}"`);
    for (const [key, v] of Object.entries(obj)) {
      if (key in props) errors.push(...validateJsonSchema(v, props[key], root, `${path}/${key}`));
      else if (s.additionalProperties === false) fail(`unexpected property "${key}"`);
      else if (s.additionalProperties !== undefined && typeof s.additionalProperties === "object")
        errors.push(...validateJsonSchema(v, s.additionalProperties as JsonSchema, root, `${path}/${key}`));
    }
    const n = Object.keys(obj).length;
    if (typeof s.minProperties === "number" && n < s.minProperties)
      fail(`fewer than ${s.minProperties} properties`);
    if (typeof s.maxProperties === "number" && n > s.maxProperties)
      fail(`more than ${s.maxProperties} properties`);
  }
  if (Array.isArray(s.allOf))
    for (const sub of s.allOf as JsonSchema[]) errors.push(...validateJsonSchema(value, sub, root, path));
  if (
    Array.isArray(s.anyOf) &&
    !(s.anyOf as JsonSchema[]).some((sub) => validateJsonSchema(value, sub, root, path).length === 0)
  )
    fail("matches none of anyOf");
  if (Array.isArray(s.oneOf)) {
    const n = (s.oneOf as JsonSchema[]).filter(
      (sub) => validateJsonSchema(value, sub, root, path).length === 0,
    ).length;
    if (n !== 1) fail(`matches ${n} of oneOf (exactly one required)`);
  }
  if (s.not !== undefined && validateJsonSchema(value, s.not as JsonSchema, root, path).length === 0)
    fail("matches a forbidden schema (not)");
  return errors;
}
