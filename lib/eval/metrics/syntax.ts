// Syntax-valid rate against a user-supplied validator: a regular expression the whole output must match,
// a JSON schema the output (parsed as JSON) must satisfy, or a JavaScript module exporting
// `validate(text): boolean | Promise<boolean>` (SciX-style query checkers).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { InputError } from "../../util/errors.js";
import { validateJsonSchema, type JsonSchema } from "./json-schema.js";

/** A validator of generated text. */
export type SyntaxValidator = (text: string) => boolean | Promise<boolean>;

/** Which validator to build. */
export type ValidatorSpec =
  /** The whole (trimmed) output must match this regular expression (anchors are added). */
  | { regex: string; flags?: string }
  /** The output must parse as JSON and satisfy this schema. */
  | { jsonSchema: JsonSchema }
  /** Path of a JSON schema file. */
  | { jsonSchemaFile: string }
  /** Path of an ES module (or CommonJS file) exporting `validate(text)`. */
  | { module: string };

/**
 * Parses the CLI form of a validator: `regex:PATTERN`, `schema:FILE.json` or `module:FILE.js`;
 * a bare path ending in .json/.js/.mjs/.cjs/.ts picks the kind from its extension.
 */
export function parseValidatorSpec(text: string): ValidatorSpec {
  const m = /^(regex|schema|module):(.*)$/s.exec(text);
  if (m) {
    if (m[1] === "regex") return { regex: m[2] };
    if (m[1] === "schema") return { jsonSchemaFile: m[2] };
    return { module: m[2] };
  }
  if (/\.json$/i.test(text)) return { jsonSchemaFile: text };
  if (/\.(m?js|cjs|ts)$/i.test(text)) return { module: text };
  throw new InputError(`validator "${text}" must be regex:PATTERN, schema:FILE.json or module:FILE.js`, {
    field: "validator",
  });
}

/** Builds a validator function from its spec. */
export async function loadValidator(spec: ValidatorSpec): Promise<SyntaxValidator> {
  if ("regex" in spec) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${spec.regex})$`, spec.flags ?? "su");
    } catch (err) {
      throw new InputError(`invalid regular expression: ${(err as Error).message}`, { field: "validator" });
    }
    return (text) => re.test(text.trim());
  }
  if ("jsonSchemaFile" in spec || "jsonSchema" in spec) {
    let schema: JsonSchema;
    if ("jsonSchemaFile" in spec) {
      try {
        schema = JSON.parse(readFileSync(spec.jsonSchemaFile, "utf8")) as JsonSchema;
      } catch (err) {
        throw new InputError(`cannot read JSON schema: ${(err as Error).message}`, {
          file: spec.jsonSchemaFile,
        });
      }
    } else schema = spec.jsonSchema;
    return (text) => {
      let value: unknown;
      try {
        value = JSON.parse(text.trim());
      } catch {
        return false;
      }
      return validateJsonSchema(value, schema).length === 0;
    };
  }
  const url = pathToFileURL(resolve(spec.module)).href;
  let mod: { validate?: unknown; default?: { validate?: unknown } | unknown };
  try {
    mod = (await import(url)) as typeof mod;
  } catch (err) {
    throw new InputError(`cannot load validator module: ${(err as Error).message}`, { file: spec.module });
  }
  const fn =
    typeof mod.validate === "function"
      ? mod.validate
      : typeof (mod.default as { validate?: unknown })?.validate === "function"
        ? (mod.default as { validate: unknown }).validate
        : typeof mod.default === "function"
          ? mod.default
          : undefined;
  if (typeof fn !== "function")
    throw new InputError("validator module must export validate(text): boolean", { file: spec.module });
  return async (text) => Boolean(await (fn as SyntaxValidator)(text));
}

/** Fraction (0–1) of outputs the validator accepts. */
export async function syntaxValidRate(
  outputs: readonly string[],
  validator: SyntaxValidator,
): Promise<number> {
  if (outputs.length === 0) return NaN;
  let ok = 0;
  for (const o of outputs) if (await validator(o)) ok++;
  return ok / outputs.length;
}
