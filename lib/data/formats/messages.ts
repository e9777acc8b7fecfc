// messages: OpenAI chat JSONL (`{"messages": [...], "tools"?: [...]}`) taken as is, after the same
// checks as `data verify`; tool-call arguments written as JSON strings (OpenAI's wire format) become
// JSON objects, and tools in the bare `{name, parameters}` shape get the `{type: "function"}` wrapper.
import { dirname, resolve } from "node:path";
import { readRows, type SourceRow } from "../read/rows.js";
import type { ChatRecord, RecordMessage } from "../record.js";
import { normalizeToolList } from "../tools.js";
import { checkRecord } from "../verify.js";
import { mapImagePaths } from "../images/materialize.js";
import type { ConvertOptions, ConvertedRecord, Converter } from "./types.js";

/** Converts (validates and normalises) one messages row. */
export function convertMessagesRow(row: SourceRow, options: ConvertOptions): ConvertedRecord | undefined {
  const where = { file: row.file, line: row.line };
  const problems = checkRecord(row.value, where, { baseDir: dirname(resolve(row.file)) }).filter((p) => p.severity === "error");
  if (problems.length) {
    options.issues.bad(problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join("; "), where);
    return undefined;
  }
  const rec = row.value as ChatRecord;
  if (typeof rec.text === "string" && !rec.messages?.length) return { record: { messages: [], text: rec.text }, origin: where };
  const messages = rec.messages.map((m): RecordMessage => {
    if (!m.tool_calls) return m;
    return {
      ...m,
      tool_calls: m.tool_calls.map((c) => ({
        ...c,
        function: {
          ...c.function,
          arguments: typeof c.function.arguments === "string" ? (JSON.parse(c.function.arguments) as Record<string, unknown>) : c.function.arguments,
        },
      })),
    };
  });
  const withSys = options.system && messages[0]?.role !== "system" ? [{ role: "system" as const, content: options.system }, ...messages] : messages;
  const tools = rec.tools ? normalizeToolList(rec.tools, where) : undefined;
  // Image paths are relative to the JSONL's folder; make them absolute so `data prepare` can copy them.
  const base = dirname(resolve(row.file));
  const record = mapImagePaths(tools ? { messages: withSys, tools } : { messages: withSys }, (p) => resolve(base, p));
  return { record, origin: where };
}

export const messagesConverter: Converter = {
  name: "messages",
  description: "OpenAI chat JSONL ({messages, tools?}) as is, checked like `data verify`",
  async convert(input, options) {
    const out: ConvertedRecord[] = [];
    for (const row of await readRows(input, { issues: options.issues, extensions: [".jsonl", ".ndjson", ".json"] })) {
      const rec = convertMessagesRow(row, options);
      if (rec) out.push(rec);
    }
    return out;
  },
};
