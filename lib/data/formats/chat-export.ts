// chat-export: the "simple guide" project's chat exports — JSON files (read recursively from a
// folder) holding lists of messages `{"sender": "User"|<assistant name>, "userInput"|"claudeOutputText"}`,
// plus any `{"instruction", "output"}` pairs found in them.
//   instruct:        every user message with the reply that follows it;
//   conversational:  those pairs, plus expanding histories (the first 2, 4, 6… turns) and sliding
//                    windows of `window` turns (default 8, rounded down to even so each window starts
//                    with the user and ends with a reply), stepping one exchange at a time.
// Consecutive messages of the same side are joined with a blank line; a conversation's leading replies
// and trailing unanswered message are left out. Exact duplicates are removed later by de-duplication.
import { InputError } from "../../util/errors.js";
import { parseJsonLocated } from "../read/json-located.js";
import { listFiles, readText } from "../read/rows.js";
import { withSystem, type RecordMessage } from "../record.js";
import { requireString, typeName } from "./fields.js";
import type { ConvertOptions, ConvertedRecord, Converter } from "./types.js";

interface Turn {
  role: "user" | "assistant";
  text: string;
  line: number;
}

const USER_SENDERS = new Set(["user", "human", "usuario"]);

/** Converts one chat-export file's text. */
export function convertChatExportText(text: string, file: string, options: ConvertOptions): ConvertedRecord[] {
  const { value, lineOf } = parseJsonLocated(text, file);
  const list = messageList(value, file);
  const out: ConvertedRecord[] = [];
  const turns: Turn[] = [];
  for (const item of list) {
    const line = lineOf(item) ?? lineOf(list) ?? 1;
    const row = { value: item, file, line };
    options.issues.row(() => {
      if (!item || typeof item !== "object" || Array.isArray(item))
        throw new InputError(`expected a message object, found ${typeName(item)}`, { file, line });
      const o = item as Record<string, unknown>;
      if ("instruction" in o || ("output" in o && !("sender" in o))) {
        const messages = withSystem(
          [
            { role: "user", content: requireString(o, "instruction", row) },
            { role: "assistant", content: requireString(o, "output", row) },
          ],
          options.system,
        );
        out.push({ record: { messages }, origin: { file, line } });
        return;
      }
      if (!("sender" in o)) throw new InputError('expected "sender" (or an "instruction"/"output" pair)', { file, line });
      const sender = requireString(o, "sender", row);
      const isUser = USER_SENDERS.has(sender.trim().toLowerCase());
      const key = isUser ? firstKey(o, ["userInput", "text", "content"]) : firstKey(o, ["claudeOutputText", "text", "content"]);
      const t = requireString(o, key, row);
      const role = isUser ? "user" : "assistant";
      const prev = turns[turns.length - 1];
      if (prev && prev.role === role) prev.text += "\n\n" + t;
      else turns.push({ role, text: t, line });
    });
  }
  while (turns.length && turns[0]!.role !== "user") turns.shift();
  if (turns.length && turns[turns.length - 1]!.role !== "assistant") turns.pop();
  out.push(...conversationRecords(turns, file, options));
  return out;
}

function firstKey(o: Record<string, unknown>, keys: string[]): string {
  return keys.find((k) => o[k] !== undefined && o[k] !== null) ?? keys[0]!;
}

function messageList(value: unknown, file: string): unknown[] {
  if (Array.isArray(value)) return value;
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    for (const key of ["messages", "chat_messages", "conversation", "data"]) if (Array.isArray(o[key])) return o[key] as unknown[];
  }
  throw new InputError(`expected a JSON array of messages, found ${typeName(value)}`, { file, line: 1 });
}

function conversationRecords(turns: Turn[], file: string, options: ConvertOptions): ConvertedRecord[] {
  const slice = (from: number, to: number): ConvertedRecord => ({
    record: {
      messages: withSystem(
        turns.slice(from, to).map((t): RecordMessage => ({ role: t.role, content: t.text })),
        options.system,
      ),
    },
    origin: { file, line: turns[from]!.line },
  });
  const out: ConvertedRecord[] = [];
  for (let i = 0; i + 1 < turns.length; i += 2) out.push(slice(i, i + 2));
  if ((options.mode ?? "instruct") === "conversational") {
    for (let n = 2; n <= turns.length; n += 2) out.push(slice(0, n));
    const w = Math.floor((options.window ?? 8) / 2) * 2;
    if (w < 2) throw new InputError(`--window must be at least 2 turns, got ${options.window}`);
    for (let start = 0; start + w <= turns.length; start += 2) out.push(slice(start, start + w));
  }
  return out;
}

export const chatExportConverter: Converter = {
  name: "chat-export",
  description: 'chat exports: JSON lists of {"sender", "userInput"|"claudeOutputText"} (folders read recursively); --mode instruct|conversational',
  async convert(input, options) {
    const out: ConvertedRecord[] = [];
    for (const file of listFiles(input, [".json"])) {
      // A file that is not valid JSON at all is one bad "row" (skipped whole with --skip-bad).
      out.push(...(options.issues.row(() => convertChatExportText(readText(file), file, options)) ?? []));
    }
    return out;
  },
};
