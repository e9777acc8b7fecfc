import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import pl from "nodejs-polars";
import { parseJsonLocated } from "../../lib/data/read/json-located.js";
import { parseCsv } from "../../lib/data/read/csv.js";
import { readRows, readJsonlText, readJsonText } from "../../lib/data/read/rows.js";
import { RowIssues } from "../../lib/data/issues.js";
import { InputError } from "../../lib/util/errors.js";
import { tempDir, writeTree } from "./helpers.js";

test("JSON parser gives the same values as JSON.parse and the line of every object", () => {
  const text = '[\n  {"pregunta": "¿Qué es la broca?", "n": -1.5e3},\n\n  {"a": [1, {"b": null}], "__proto__": "x", "u": "\\u00f1 😀"}\n]';
  const { value, lineOf } = parseJsonLocated(text, "f.json");
  assert.deepEqual(value, JSON.parse(text));
  const arr = value as Array<Record<string, unknown>>;
  assert.equal(lineOf(arr), 1);
  assert.equal(lineOf(arr[0]), 2);
  assert.equal(lineOf(arr[1]), 4);
  assert.equal(Object.keys(arr[1]!).includes("__proto__"), true);
});

test("JSON syntax errors name file, line and column", () => {
  assert.throws(() => parseJsonLocated('[\n {"a": 1},\n {"b": 2,}\n]', "x.json"), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.location.line, 3);
    assert.match(e.message, /^x\.json:3: invalid JSON: expected a string key at column 10/);
    return true;
  });
  assert.throws(() => parseJsonLocated("  \n", "e.json"), /e\.json: the file is empty/);
  assert.throws(() => parseJsonLocated('{"a": "sin cerrar}', "s.json"), /s\.json:1: invalid JSON/);
});

test("JSONL: bad lines are errors with their number, or skipped and recorded", () => {
  const text = '{"a": 1}\n\n{"a": 2\n{"a": 3}\n';
  assert.throws(() => readJsonlText(text, "d.jsonl"), /^InputError: d\.jsonl:3: invalid JSON/);
  const issues = new RowIssues(true);
  const rows = readJsonlText(text, "d.jsonl", issues);
  assert.deepEqual(rows.map((r) => [r.line, r.value]), [[1, { a: 1 }], [4, { a: 3 }]]);
  assert.equal(issues.skipped.length, 1);
  assert.equal(issues.skipped[0]!.line, 3);
  assert.throws(() => readJsonlText("\n \n", "v.jsonl"), /v\.jsonl: the file is empty/);
});

test("CSV: quotes, doubled quotes, embedded newlines, CRLF, BOM, semicolons; row lines", () => {
  const text = '\uFEFFpreguntas;respuestas\r\n"¿Cómo; cuándo?";"Así: ""bien""\nen dos líneas"\r\nb;c\r\n';
  const { header, rows } = parseCsv(text, "q.csv");
  assert.deepEqual(header, ["preguntas", "respuestas"]);
  assert.deepEqual(rows[0]!.values, { preguntas: "¿Cómo; cuándo?", respuestas: 'Así: "bien"\nen dos líneas' });
  assert.equal(rows[0]!.line, 2);
  assert.equal(rows[1]!.line, 4);
  assert.throws(() => parseCsv('a,b\n1,2\n3\n', "w.csv"), /w\.csv:3: expected 2 cells \(as the header\), found 1/);
  assert.throws(() => parseCsv('a,b\n"1,2\n', "u.csv"), /u\.csv:2: unclosed quoted field/);
  assert.throws(() => parseCsv("", "e.csv"), /e\.csv: the file is empty/);
});

test("JSON files: arrays, wrapped arrays and column objects become rows with lines", () => {
  assert.deepEqual(readJsonText('{"data": [\n{"x": 1},\n{"x": 2}]}', "w.json").map((r) => [r.line, r.value]), [[2, { x: 1 }], [3, { x: 2 }]]);
  assert.deepEqual(readJsonText('{"q": ["a", "b"], "r": ["c", "d"]}', "c.json").map((r) => r.value), [{ q: "a", r: "c" }, { q: "b", r: "d" }]);
  assert.throws(() => readJsonText("[]", "z.json"), /z\.json:1: the JSON array is empty/);
});

test("folders are read recursively in sorted order; Parquet rows come through nodejs-polars", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "b/uno.jsonl": '{"k": "b1"}\n', "a.csv": "k\na1\n", "notas.txt": "ignored" });
    pl.DataFrame({ k: ["p1", "p2"], n: [1, 2] }).writeParquet(join(dir, "c.parquet"));
    const rows = await readRows(dir);
    assert.deepEqual(rows.map((r) => (r.value as { k: string }).k), ["a1", "b1", "p1", "p2"]);
    assert.deepEqual(rows.map((r) => r.line), [2, 1, 1, 2]);
    await assert.rejects(readRows(join(dir, "nada")), /no such file or folder/);
  } finally {
    cleanup();
  }
});
