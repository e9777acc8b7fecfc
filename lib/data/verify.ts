// `data verify`: checks a messages JSONL record by record and reports every problem with its line —
// JSON syntax, roles and their order, tool calls (name, JSON-object arguments, matching results),
// tool schemas, image files (exist, inside the dataset folder) and, optionally, token length.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { InputError } from "../util/errors.js";
import type { Problem } from "./issues.js";
import type { ChatRecord } from "./record.js";
import { normalizeTool } from "./tools.js";
import { typeName } from "./formats/fields.js";

/** A problem found by verification. */
export interface VerifyProblem extends Problem {
  /** error: the record cannot be trained on as is; warning: worth a look. */
  severity: "error" | "warning";
}

/** Options of {@link checkRecord} and {@link verifyFile}. */
export interface VerifyOptions {
  /** Folder image paths are relative to and must stay inside (default: the JSONL file's folder). */
  baseDir?: string;
  /** Token length of a valid record (e.g. rendered with the model's chat template); enables the length check. */
  measure?: (record: ChatRecord) => number;
  /** Largest allowed token length (the model's context). */
  maxTokens?: number;
}

/** Result of {@link verifyFile}. */
export interface VerifyReport {
  file: string;
  /** Non-blank lines read. */
  records: number;
  /** Records without errors. */
  valid: number;
  errors: number;
  warnings: number;
  problems: VerifyProblem[];
  /** Token lengths of valid records, when a measure was given. */
  tokenLengths?: number[];
}

const ROLES = new Set(["system", "user", "assistant", "tool"]);

/** Checks one parsed record (without the length check); returns its problems. `where` names file and line. */
export function checkRecord(value: unknown, where: { file?: string; line?: number }, options: VerifyOptions = {}): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const err = (message: string, field?: string) => problems.push({ ...where, field, message, severity: "error" });
  const warn = (message: string, field?: string) => problems.push({ ...where, field, message, severity: "warning" });
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    err(`expected a JSON object with "messages", found ${typeName(value)}`);
    return problems;
  }
  const rec = value as Record<string, unknown>;
  if (typeof rec.text === "string" && (rec.messages === undefined || (Array.isArray(rec.messages) && rec.messages.length === 0))) {
    if (rec.text.trim() === "") err("empty text", "text");
    return problems;
  }
  if (!Array.isArray(rec.messages)) {
    err(rec.messages === undefined ? "missing" : `expected an array, found ${typeName(rec.messages)}`, "messages");
    return problems;
  }
  if (rec.messages.length === 0) err("no messages", "messages");

  const toolNames = new Set<string>();
  if (rec.tools !== undefined) {
    if (!Array.isArray(rec.tools)) err(`expected an array, found ${typeName(rec.tools)}`, "tools");
    else
      rec.tools.forEach((t, k) => {
        try {
          toolNames.add(normalizeTool(t, {}).function.name);
        } catch (e) {
          err((e as Error).message, `tools[${k}]`);
        }
      });
  }

  let pending: Array<string | undefined> = [];
  let prev: string | undefined;
  let assistants = 0;
  let seenUser = false;
  rec.messages.forEach((m, k) => {
    const f = `messages[${k}]`;
    if (!m || typeof m !== "object" || Array.isArray(m)) return err(`expected a message object, found ${typeName(m)}`, f);
    const msg = m as Record<string, unknown>;
    const role = msg.role;
    if (typeof role !== "string" || !ROLES.has(role)) return err(`role must be system, user, assistant or tool, found ${JSON.stringify(role)}`, `${f}.role`);
    checkContent(msg, role, f, err, warn, options, where);
    // Order.
    if (role === "system" && k !== 0) err("a system message may only come first", f);
    if (role === "user" && prev === "user") err("two user messages in a row", f);
    if (role === "assistant" && prev === "assistant") err("two assistant messages in a row", f);
    if (role === "assistant" && !seenUser) err("the conversation starts with the assistant (expected a user message first)", f);
    if (role === "user") seenUser = true;
    if (role === "tool") {
      if (pending.length === 0) err("a tool result without a pending tool call", f);
      else {
        const id = msg.tool_call_id;
        const idx = typeof id === "string" ? pending.indexOf(id) : 0;
        if (typeof id === "string" && idx < 0) err(`tool_call_id "${id}" matches no pending call`, `${f}.tool_call_id`);
        pending.splice(Math.max(idx, 0), 1);
      }
    } else if (pending.length) {
      err(`${pending.length} tool call(s) have no result before this message`, f);
      pending = [];
    }
    if (role === "assistant") {
      assistants++;
      pending = checkToolCalls(msg, f, err, toolNames, rec.tools !== undefined);
    }
    prev = role;
  });
  if (Array.isArray(rec.messages) && rec.messages.length) {
    const last = rec.messages[rec.messages.length - 1] as { role?: unknown };
    if (assistants === 0) err("no assistant message: nothing to learn from", "messages");
    else if (last?.role !== "assistant") warn(`ends with a ${String(last?.role)} message (not trained on)`, "messages");
  }
  // Calls left pending by the final assistant turn are fine: the call itself is the lesson (CaficulBot's
  // function-calling rows end there). Calls followed by anything but their results are reported above.
  return problems;
}

type Report = (message: string, field?: string) => void;

function checkContent(msg: Record<string, unknown>, role: string, f: string, err: Report, warn: Report, options: VerifyOptions, where: { file?: string }) {
  const c = msg.content;
  const hasCalls = Array.isArray(msg.tool_calls) && msg.tool_calls.length > 0;
  if (c === undefined || c === null) {
    if (!(role === "assistant" && hasCalls)) err("missing content", `${f}.content`);
    return;
  }
  if (typeof c === "string") {
    if (c.trim() === "" && !hasCalls) err("empty content", `${f}.content`);
    return;
  }
  if (!Array.isArray(c)) return err(`content must be a string or a list of parts, found ${typeName(c)}`, `${f}.content`);
  c.forEach((p, j) => {
    const pf = `${f}.content[${j}]`;
    const part = p as Record<string, unknown>;
    if (!part || typeof part !== "object") return err(`expected a content part object, found ${typeName(p)}`, pf);
    if (part.type === "text") {
      if (typeof part.text !== "string") err('a text part needs a "text" string', pf);
    } else if (part.type === "image") {
      if (typeof part.path === "string") checkImagePath(part.path, pf, err, options, where);
      else if (typeof part.url === "string") checkUrl(part.url, pf, err, warn);
      else err('an image part needs a "path" or "url" string', pf);
    } else if (part.type === "image_url") {
      const url = (part.image_url as { url?: unknown } | undefined)?.url;
      if (typeof url !== "string") err('an image_url part needs "image_url.url"', pf);
      else if (/^(https?|data):/.test(url)) checkUrl(url, pf, err, warn);
      else checkImagePath(url.replace(/^file:\/\//, ""), pf, err, options, where);
    } else err(`unknown content part type ${JSON.stringify(part.type)}`, pf);
  });
}

function checkUrl(url: string, f: string, err: Report, warn: Report) {
  if (url.startsWith("data:")) {
    if (!/^data:image\/[\w.+-]+;base64,/.test(url)) err("a data: URL must be a base64 image", f);
  } else if (/^https?:\/\//.test(url)) warn("remote image URL (not checked)", f);
  else err(`not a URL: ${url.slice(0, 60)}`, f);
}

function checkImagePath(p: string, f: string, err: Report, options: VerifyOptions, where: { file?: string }) {
  const base = resolve(options.baseDir ?? (where.file ? dirname(where.file) : "."));
  const full = isAbsolute(p) ? p : resolve(base, p);
  if (!insideFolder(base, full)) return err(`image path "${p}" leaves the dataset folder ${base}`, f);
  if (!existsSync(full)) return err(`image file "${p}" does not exist`, f);
  // A symlink inside the folder may still point outside it.
  if (!insideFolder(realpathSync(base), realpathSync(full))) err(`image path "${p}" resolves outside the dataset folder`, f);
}

/** Whether `path` is `folder` or inside it (both absolute). */
export function insideFolder(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!rel.startsWith(".." + sep) && rel !== ".." && !isAbsolute(rel));
}

function checkToolCalls(msg: Record<string, unknown>, f: string, err: Report, toolNames: Set<string>, haveTools: boolean): string[] {
  const calls = msg.tool_calls;
  if (calls === undefined || calls === null) return [];
  if (!Array.isArray(calls)) {
    err(`expected an array, found ${typeName(calls)}`, `${f}.tool_calls`);
    return [];
  }
  const ids: string[] = [];
  calls.forEach((c, j) => {
    const cf = `${f}.tool_calls[${j}]`;
    const fn = (c as { function?: Record<string, unknown> } | null)?.function;
    if (!fn || typeof fn !== "object") return err('needs a "function" object', cf);
    if (typeof fn.name !== "string" || fn.name === "") err('needs "function.name"', cf);
    else if (haveTools && !toolNames.has(fn.name)) err(`calls "${fn.name}", which is not in the record's tools`, cf);
    let args = fn.arguments;
    if (typeof args === "string") {
      try {
        args = JSON.parse(args);
      } catch {
        return err("function.arguments is a string that is not valid JSON", `${cf}.function.arguments`);
      }
    }
    if (!args || typeof args !== "object" || Array.isArray(args)) err(`function.arguments must be a JSON object, found ${typeName(args)}`, `${cf}.function.arguments`);
    const id = (c as { id?: unknown }).id;
    ids.push(typeof id === "string" ? id : `#${j}`);
  });
  return ids;
}

/** Verifies a messages JSONL file; never throws for content problems (they are in the report). */
export function verifyFile(file: string, options: VerifyOptions = {}): VerifyReport {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new InputError("cannot read the file", { file });
  }
  const problems: VerifyProblem[] = [];
  const tokenLengths: number[] = [];
  let records = 0;
  let valid = 0;
  const opts = { ...options, baseDir: options.baseDir ?? dirname(resolve(file)) };
  text.split("\n").forEach((raw, k) => {
    const line = k + 1;
    const lineText = k === 0 ? raw.replace(/^\uFEFF/, "") : raw;
    if (lineText.trim() === "") return;
    records++;
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch (e) {
      problems.push({ file, line, message: `invalid JSON: ${(e as Error).message}`, severity: "error" });
      return;
    }
    const found = checkRecord(value, { file, line }, opts);
    problems.push(...found);
    if (found.some((p) => p.severity === "error")) return;
    if (options.measure) {
      const n = options.measure(value as ChatRecord);
      tokenLengths.push(n);
      if (options.maxTokens && n > options.maxTokens) {
        problems.push({ file, line, message: `${n} tokens, more than the model's context of ${options.maxTokens}`, severity: "error" });
        return;
      }
    }
    valid++;
  });
  if (records === 0) problems.push({ file, message: "the file is empty (no records)", severity: "error" });
  const errors = problems.filter((p) => p.severity === "error").length;
  return {
    file,
    records,
    valid,
    errors,
    warnings: problems.length - errors,
    problems,
    ...(options.measure ? { tokenLengths } : {}),
  };
}
