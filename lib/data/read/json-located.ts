// A JSON parser that remembers where each object and array starts, so that converters reading a
// JSON file (not JSONL) can still name the line of a bad element. JSON.parse keeps no positions.
import { InputError } from "../../util/errors.js";

/** A parsed JSON document and the 1-based line where each of its objects/arrays begins. */
export interface LocatedJson {
  /** The parsed value (same as JSON.parse would give). */
  value: unknown;
  /** Line where an object or array of `value` begins, if it came from this document. */
  lineOf(node: unknown): number | undefined;
}

const WS = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Parses `text` (the content of `file`); a syntax error is an InputError naming file, line and column. */
export function parseJsonLocated(text: string, file: string): LocatedJson {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const starts = new WeakMap<object, number>();
  let pos = 0;

  const lineStarts = [0];
  for (let i = src.indexOf("\n"); i >= 0; i = src.indexOf("\n", i + 1)) lineStarts.push(i + 1);
  const lineAt = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const fail = (what: string, at = pos): never => {
    const line = lineAt(at);
    const col = at - lineStarts[line - 1]! + 1;
    const found = at >= src.length ? "end of file" : JSON.stringify(src.slice(at, at + 12));
    throw new InputError(`invalid JSON: expected ${what} at column ${col}, found ${found}`, { file, line });
  };
  const skipWs = () => {
    WS.lastIndex = pos;
    WS.exec(src);
    pos = WS.lastIndex;
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) return undefined;
    pos = re.lastIndex;
    return m[0];
  };

  const parseValue = (depth: number): unknown => {
    if (depth > 512) fail("less nesting (over 512 levels)");
    skipWs();
    const c = src[pos];
    if (c === "{") {
      const obj: Record<string, unknown> = {};
      starts.set(obj, pos);
      pos++;
      skipWs();
      if (src[pos] === "}") {
        pos++;
        return obj;
      }
      for (;;) {
        skipWs();
        const key = match(STRING);
        if (key === undefined) fail("a string key");
        skipWs();
        if (src[pos] !== ":") fail('":"');
        pos++;
        const v = parseValue(depth + 1);
        // defineProperty: a "__proto__" key must become an own property, as with JSON.parse.
        Object.defineProperty(obj, JSON.parse(key!) as string, { value: v, enumerable: true, writable: true, configurable: true });
        skipWs();
        if (src[pos] === ",") pos++;
        else if (src[pos] === "}") {
          pos++;
          return obj;
        } else fail('"," or "}"');
      }
    }
    if (c === "[") {
      const arr: unknown[] = [];
      starts.set(arr, pos);
      pos++;
      skipWs();
      if (src[pos] === "]") {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWs();
        if (src[pos] === ",") pos++;
        else if (src[pos] === "]") {
          pos++;
          return arr;
        } else fail('"," or "]"');
      }
    }
    if (c === '"') {
      const s = match(STRING);
      if (s === undefined) fail("a valid string (closing quote, no raw control characters)");
      return JSON.parse(s!);
    }
    if (src.startsWith("true", pos)) return (pos += 4), true;
    if (src.startsWith("false", pos)) return (pos += 5), false;
    if (src.startsWith("null", pos)) return (pos += 4), null;
    const n = match(NUMBER);
    if (n !== undefined) return Number(n);
    return fail("a value");
  };

  skipWs();
  if (pos >= src.length) throw new InputError("the file is empty (no JSON value)", { file });
  const value = parseValue(0);
  skipWs();
  if (pos < src.length) fail("end of file");
  return {
    value,
    lineOf: (node) => {
      if (!node || typeof node !== "object") return undefined;
      const at = starts.get(node);
      return at === undefined ? undefined : lineAt(at);
    },
  };
}
