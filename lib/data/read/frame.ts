// Data frames for exploration (notebooks): input rows or chat records as nodejs-polars DataFrames, so
// users can filter, group and describe them with polars' API.
import type pl from "nodejs-polars";
import { messageImages, messageText, type ChatRecord } from "../record.js";
import type { SourceRow } from "./rows.js";

type DataFrame = ReturnType<typeof pl.DataFrame>;

/** Input rows as a DataFrame (one column per key of the row objects, plus `_file` and `_line`). */
export async function rowsFrame(rows: readonly SourceRow[]): Promise<DataFrame> {
  const polars = (await import("nodejs-polars")).default;
  const keys = [...new Set(rows.flatMap((r) => (r.value && typeof r.value === "object" ? Object.keys(r.value) : [])))];
  const cell = (v: unknown) => (v === undefined || v === null ? null : typeof v === "object" ? JSON.stringify(v) : v);
  const columns: Record<string, unknown[]> = { _file: rows.map((r) => r.file), _line: rows.map((r) => r.line) };
  for (const k of keys) columns[k] = rows.map((r) => cell((r.value as Record<string, unknown>)[k]));
  return polars.DataFrame(columns);
}

/**
 * Chat records as a DataFrame: `messages` (count), `roles` ("user,assistant"), `system`, `first_user`,
 * `last_assistant`, `tool_calls`, `images`, `tools`, `chars`.
 */
export async function recordsFrame(records: readonly ChatRecord[]): Promise<DataFrame> {
  const polars = (await import("nodejs-polars")).default;
  const col = <T>(f: (r: ChatRecord) => T) => records.map(f);
  const text = (r: ChatRecord, role: string, last = false) => {
    const ms = r.messages.filter((m) => m.role === role);
    const m = last ? ms[ms.length - 1] : ms[0];
    return m ? messageText(m) : r.text !== undefined && role === "assistant" ? r.text : "";
  };
  return polars.DataFrame({
    messages: col((r) => r.messages.length),
    roles: col((r) => r.messages.map((m) => m.role).join(",")),
    system: col((r) => text(r, "system")),
    first_user: col((r) => text(r, "user")),
    last_assistant: col((r) => text(r, "assistant", true)),
    tool_calls: col((r) => r.messages.reduce((n, m) => n + (m.tool_calls?.length ?? 0), 0)),
    images: col((r) => r.messages.reduce((n, m) => n + messageImages(m).length, 0)),
    tools: col((r) => (r.tools ?? []).map((t) => t.function.name).join(",")),
    chars: col((r) => (r.text ?? "").length + r.messages.reduce((n, m) => n + messageText(m).length, 0)),
  });
}
