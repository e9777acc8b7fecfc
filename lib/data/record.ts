// The canonical training record: OpenAI chat messages plus optional tool schemas. Every converter
// produces it, `data verify` checks it, tokenize.ts renders it with a chat template.
import type { ChatMessage, ContentPart, ToolSchema } from "../chat/types.js";

/**
 * An image part as the data layer writes it: `{type: "image", path}` for a file (relative to the
 * dataset folder) or `{type: "image", url}`. Chat templates see it as `{type: "image"}`.
 */
export interface ImagePart {
  type: "image";
  /** Image file, relative to the folder of the JSONL file that holds the record. */
  path?: string;
  /** http(s) or data: URL. */
  url?: string;
}

/** A content part of a record message: text, OpenAI `image_url`, or the data layer's image part. */
export type RecordContentPart = ContentPart | ImagePart;

/** A chat message of a record (the OpenAI shape, with {@link ImagePart} allowed in content). */
export type RecordMessage = Omit<ChatMessage, "content"> & {
  /** Text, or text/image parts; null/absent on an assistant turn that only calls tools. */
  content?: string | RecordContentPart[] | null;
};

/** One training example. */
export interface ChatRecord {
  /** The conversation, in order. */
  messages: RecordMessage[];
  /** Tools the assistant may call in this conversation. */
  tools?: ToolSchema[];
  /**
   * Raw text for continued pretraining / style (`--format text`): `messages` is then empty, no chat
   * template is applied and every token is trained on.
   */
  text?: string;
}

/** Where a record came from, for error messages and reports. */
export interface RecordOrigin {
  /** Source file. */
  file: string;
  /** 1-based line (JSON/JSONL/CSV) or row number (Parquet) of the source row, if known. */
  line?: number;
}

/** A record with its origin. */
export interface SourcedRecord {
  record: ChatRecord;
  origin: RecordOrigin;
}

/** The text of a message: its string content, or its text parts joined. */
export function messageText(m: RecordMessage): string {
  if (typeof m.content === "string") return m.content;
  if (!Array.isArray(m.content)) return "";
  return m.content.map((p) => (p.type === "text" ? p.text : "")).join("");
}

/** Image references (path or URL) of a message, in order. */
export function messageImages(m: RecordMessage): Array<{ path?: string; url?: string }> {
  if (!Array.isArray(m.content)) return [];
  const out: Array<{ path?: string; url?: string }> = [];
  for (const p of m.content) {
    if (p.type === "image") out.push({ path: p.path, url: p.url });
    else if (p.type === "image_url") out.push({ url: p.image_url.url });
  }
  return out;
}

/** Total characters of a record's text, tool-call arguments included (a cheap length measure). */
export function recordChars(r: ChatRecord): number {
  let n = 0;
  for (const m of r.messages) {
    n += messageText(m).length;
    for (const c of m.tool_calls ?? []) n += c.function.name.length + JSON.stringify(c.function.arguments).length;
  }
  return n;
}

/** A canonical string for de-duplication: JSON with object keys sorted at every level. */
export function recordKey(r: ChatRecord): string {
  return JSON.stringify(sortKeys(r));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .filter((k) => o[k] !== undefined)
        .map((k) => [k, sortKeys(o[k])]),
    );
  }
  return v;
}

/**
 * The messages as lib/chat's ChatMessage (what renderChat takes): the data layer's `{type: "image"}`
 * parts become OpenAI `image_url` parts (url = the path or URL), which templates see as `{type: "image"}`.
 */
export function toChatMessages(messages: readonly RecordMessage[]): ChatMessage[] {
  return messages.map((m): ChatMessage => {
    if (!Array.isArray(m.content)) return m as ChatMessage;
    const content = m.content.map((p): ContentPart => (p.type === "image" ? { type: "image_url", image_url: { url: p.path ?? p.url ?? "" } } : p));
    return { ...m, content };
  });
}

/** Prepends a system message when `system` is a non-empty string. */
export function withSystem(messages: RecordMessage[], system: string | undefined): RecordMessage[] {
  return system ? [{ role: "system", content: system }, ...messages] : messages;
}
