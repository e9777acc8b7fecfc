// sharegpt: `{"conversations": [{"from", "value"}], "tools"?, "system"?}` rows as LLaMA-Factory and
// glaive write them. human → user, gpt → assistant, function_call → assistant tool call(s) (the value
// is a JSON `{"name", "arguments"}` or a list of them), observation → tool result answering the
// pending call(s) in order, system → system. `tools` may be a JSON string or an array.
import { InputError } from "../../util/errors.js";
import { readRows, type SourceRow } from "../read/rows.js";
import type { RecordMessage } from "../record.js";
import type { ToolCall } from "../../chat/types.js";
import { normalizeToolList } from "../tools.js";
import { optionalString, rowObject, typeName } from "./fields.js";
import type { ConvertOptions, ConvertedRecord, Converter } from "./types.js";

const ROLE_OF: Record<string, "user" | "assistant" | "system"> = {
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  model: "assistant",
  system: "system",
};

/** Converts one ShareGPT row. */
export function convertShareGptRow(row: SourceRow, options: ConvertOptions): ConvertedRecord {
  const obj = rowObject(row);
  const where = { file: row.file, line: row.line };
  const conv = obj.conversations ?? obj.messages;
  if (!Array.isArray(conv)) throw new InputError(`expected an array, found ${typeName(conv)}`, { ...where, field: "conversations" });
  const tools = normalizeToolList(obj.tools, where);
  const system = optionalString(obj, "system", row) || options.system;
  const messages: RecordMessage[] = system ? [{ role: "system", content: system }] : [];
  let pending: ToolCall[] = [];
  let callCount = 0;
  conv.forEach((turn, k) => {
    const at = { ...where, field: `conversations[${k}]` };
    if (!turn || typeof turn !== "object") throw new InputError(`expected a {"from", "value"} object, found ${typeName(turn)}`, at);
    const { from, value } = turn as { from?: unknown; value?: unknown };
    if (typeof from !== "string") throw new InputError('needs a "from" string', at);
    if (typeof value !== "string") throw new InputError(`"value" must be a string, found ${typeName(value)}`, at);
    if (from === "function_call") {
      const calls = parseCalls(value, at).map((c): ToolCall => ({ id: `call_${callCount++}`, type: "function", function: c }));
      messages.push({ role: "assistant", content: null, tool_calls: calls });
      pending = calls.slice();
      return;
    }
    if (from === "observation") {
      const call = pending.shift();
      if (!call) throw new InputError("an observation without a preceding function_call", at);
      messages.push({ role: "tool", tool_call_id: call.id, name: call.function.name, content: value });
      return;
    }
    const role = ROLE_OF[from];
    if (!role) throw new InputError(`unknown speaker "${from}" (expected human, gpt, function_call, observation or system)`, at);
    messages.push({ role, content: value });
  });
  if (pending.length) throw new InputError(`${pending.length} function call(s) without an observation`, { ...where, field: "conversations" });
  return { record: tools.length ? { messages, tools } : { messages }, origin: { file: row.file, line: row.line } };
}

function parseCalls(value: string, at: { file: string; line: number; field: string }) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InputError(`function_call is not valid JSON: ${(err as Error).message}`, at);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((c) => {
    if (!c || typeof c !== "object") throw new InputError('function_call must be {"name", "arguments"}', at);
    const { name, arguments: args } = c as { name?: unknown; arguments?: unknown };
    if (typeof name !== "string" || !name) throw new InputError('function_call needs a "name"', at);
    let a = args ?? {};
    if (typeof a === "string") {
      try {
        a = JSON.parse(a);
      } catch {
        throw new InputError(`arguments of "${name}" are a string that is not JSON`, at);
      }
    }
    if (!a || typeof a !== "object" || Array.isArray(a)) throw new InputError(`arguments of "${name}" must be a JSON object`, at);
    return { name, arguments: a as Record<string, unknown> };
  });
}

export const shareGptConverter: Converter = {
  name: "sharegpt",
  description: "ShareGPT conversations (human/gpt/function_call/observation) with a tools field (glaive, LLaMA-Factory)",
  async convert(input, options) {
    const out: ConvertedRecord[] = [];
    for (const row of await readRows(input, { issues: options.issues })) {
      const rec = options.issues.row(() => convertShareGptRow(row, options));
      if (rec) out.push(rec);
    }
    return out;
  },
};
