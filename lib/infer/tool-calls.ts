// Finds tool calls in generated text. Models write them in their template's format: a bare JSON object
// {"name", "arguments"|"parameters"}, wrapped in <tool_call>…</tool_call> (Hermes/Qwen), after
// [TOOL_CALLS] (Mistral) or <|python_tag|> (Llama 3), as a JSON list, in OpenAI's
// {"function": {...}} shape, or as the CaficulBot dataset's {"tool", "argumentos"} with k=v arguments.
import { randomBytes } from "node:crypto";
import type { ToolCall } from "../chat/types.js";

/** Result of {@link parseToolCalls}. */
export interface ParsedToolCalls {
  /** Calls found, arguments as JSON strings (OpenAI wire format). */
  calls: ToolCall[];
  /** The text with the calls and their wrappers removed, trimmed. */
  content: string;
  /** The text looks like an attempted call (wrapper or JSON with a name) that did not parse. */
  invalid: boolean;
}

/** A fresh OpenAI-style call id. */
export function newCallId(): string {
  return `call_${randomBytes(12).toString("hex")}`;
}

/** Splits "k=v, k2=v2" argument strings (as in the CaficulBot data) into an object. */
export function parseKeyValueArguments(text: string): Record<string, string> | undefined {
  const parts = text.split(/\s*[,;&]\s*/).filter(Boolean);
  if (parts.length === 0 || !parts.every((p) => /^[^=\s]+\s*=/.test(p))) return undefined;
  return Object.fromEntries(
    parts.map((p) => [p.slice(0, p.indexOf("=")).trim(), p.slice(p.indexOf("=") + 1).trim()]),
  );
}

function asCall(v: unknown): ToolCall | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const inner = o.function && typeof o.function === "object" ? (o.function as Record<string, unknown>) : o;
  const name = inner.name ?? inner.tool ?? inner.tool_name;
  if (typeof name !== "string" || name === "") return undefined;
  let args = inner.arguments ?? inner.parameters ?? inner.argumentos ?? inner.args ?? {};
  if (typeof args === "string") {
    const trimmed = args.trim();
    try {
      args = trimmed === "" ? {} : JSON.parse(trimmed);
    } catch {
      args = parseKeyValueArguments(trimmed) ?? args;
    }
  }
  return {
    id: typeof o.id === "string" ? o.id : newCallId(),
    type: "function",
    function: { name, arguments: typeof args === "string" ? args : JSON.stringify(args) },
  };
}

/** Top-level JSON objects/arrays in text: [start, end) spans found by bracket matching outside strings. */
function jsonSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== "{" && c !== "[") {
      i++;
      continue;
    }
    let depth = 0;
    let inString = false;
    let j = i;
    for (; j < text.length; j++) {
      const d = text[j];
      if (inString) {
        if (d === "\\") j++;
        else if (d === '"') inString = false;
      } else if (d === '"') inString = true;
      else if (d === "{" || d === "[") depth++;
      else if (d === "}" || d === "]") {
        depth--;
        if (depth === 0) break;
      }
    }
    if (depth === 0 && j < text.length) {
      spans.push([i, j + 1]);
      i = j + 1;
    } else i++;
  }
  return spans;
}

const WRAPPERS = /<\/?tool_call>|\[TOOL_CALLS\]|<\|python_tag\|>|<\|tool_calls?\|>|<\/?function_calls?>/g;

/** Extracts tool calls from generated text. */
export function parseToolCalls(text: string): ParsedToolCalls {
  const calls: ToolCall[] = [];
  const keep: string[] = [];
  let last = 0;
  for (const [start, end] of jsonSpans(text)) {
    let value: unknown;
    try {
      value = JSON.parse(text.slice(start, end));
    } catch {
      continue;
    }
    const found = (Array.isArray(value) ? value : [value]).map(asCall);
    if (found.length === 0 || found.some((c) => c === undefined)) continue;
    calls.push(...(found as ToolCall[]));
    keep.push(text.slice(last, start));
    last = end;
  }
  keep.push(text.slice(last));
  const rest = keep.join("");
  const content = (calls.length ? rest.replace(WRAPPERS, "") : rest).trim();
  const wrapper = /<tool_call>|\[TOOL_CALLS\]|<\|python_tag\|>/.test(text);
  const jsonLike = /^\s*[[{][\s\S]*"(name|tool|function)"\s*:/.test(text);
  return { calls, content, invalid: calls.length === 0 && (wrapper || jsonLike) };
}
