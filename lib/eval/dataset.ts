// Eval sets: messages JSONL (the data layer's canonical records). The last assistant turn of each record
// is the reference; everything before it is the prompt. A reference with tool_calls is compared as calls.
import { readFileSync } from "node:fs";
import type { ChatMessage, ToolCall, ToolSchema } from "../chat/types.js";
import { InputError } from "../util/errors.js";

/** One eval example. */
export interface EvalExample {
  /** 1-based line in the JSONL file. */
  line: number;
  /** Conversation up to (not including) the reference turn. */
  prompt: ChatMessage[];
  /** Tools offered in this conversation. */
  tools?: ToolSchema[];
  /** Reference assistant text ("" when the reference only calls tools). */
  referenceText: string;
  /** Reference tool calls (empty when the reference answers in text). */
  referenceCalls: ToolCall[];
}

const ROLES = new Set(["system", "user", "assistant", "tool"]);

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((p) =>
        p && typeof p === "object" && (p as { type?: unknown }).type === "text"
          ? String((p as { text?: unknown }).text ?? "")
          : "",
      )
      .join("");
  return "";
}

/** Reads an eval JSONL file; every malformed line is an error naming the line. */
export function readEvalSet(file: string): EvalExample[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new InputError("cannot read the eval file", { file });
  }
  const examples: EvalExample[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch (err) {
      throw new InputError(`not valid JSON: ${(err as Error).message}`, { file, line });
    }
    if (!rec || typeof rec !== "object" || !Array.isArray((rec as { messages?: unknown }).messages))
      throw new InputError('expected an object with a "messages" array', { file, line, field: "messages" });
    const messages = (rec as { messages: unknown[] }).messages;
    messages.forEach((m, k) => {
      if (!m || typeof m !== "object" || !ROLES.has((m as { role?: string }).role ?? ""))
        throw new InputError("role must be system, user, assistant or tool", {
          file,
          line,
          field: `messages[${k}].role`,
        });
    });
    const typed = messages as ChatMessage[];
    let last = -1;
    for (let k = typed.length - 1; k >= 0; k--)
      if (typed[k].role === "assistant") {
        last = k;
        break;
      }
    if (last < 1)
      throw new InputError("needs an assistant turn after at least one prompt message (the reference)", {
        file,
        line,
        field: "messages",
      });
    const ref = typed[last];
    const calls = Array.isArray(ref.tool_calls) ? ref.tool_calls : [];
    calls.forEach((c, k) => {
      if (!c?.function || typeof c.function.name !== "string")
        throw new InputError("tool call needs function.name", {
          file,
          line,
          field: `messages[${last}].tool_calls[${k}]`,
        });
    });
    const tools = (rec as { tools?: unknown }).tools;
    if (tools !== undefined && !Array.isArray(tools))
      throw new InputError('"tools" must be an array', { file, line, field: "tools" });
    examples.push({
      line,
      prompt: typed.slice(0, last),
      ...(tools ? { tools: tools as ToolSchema[] } : {}),
      referenceText: contentText(ref.content),
      referenceCalls: calls,
    });
  });
  if (examples.length === 0) throw new InputError("the eval file has no examples", { file });
  return examples;
}
