import { test } from "node:test";
import assert from "node:assert/strict";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { messagesConverter } from "../../lib/data/formats/messages.js";
import { RowIssues } from "../../lib/data/issues.js";
import { verifyFile } from "../../lib/data/verify.js";
import { jsonl, tempDir, writeTree } from "./helpers.js";

const ok = {
  messages: [
    { role: "system", content: "Responde en español." },
    { role: "user", content: [{ type: "image", path: "img/hoja.png" }, { type: "text", text: "¿Qué enfermedad tiene?" }] },
    { role: "assistant", content: "Roya (Hemileia vastatrix)." },
  ],
};
const toolRec = {
  messages: [
    { role: "user", content: "¿Cuánta urea hay?" },
    { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "inventario", arguments: '{"producto": "urea"}' } }] },
    { role: "tool", tool_call_id: "c1", content: '{"bultos": 4}' },
    { role: "assistant", content: "Quedan 4 bultos." },
  ],
  tools: [{ type: "function", function: { name: "inventario", parameters: { type: "object" } } }],
};

test("verify: a clean file passes; every problem is reported with its line and field", () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "img/hoja.png": "png", "../fuera.png": "png" });
    const lines = [
      JSON.stringify(ok), // 1 ok
      JSON.stringify(toolRec), // 2 ok
      '{"messages": [', // 3 bad JSON
      JSON.stringify({ messages: [{ role: "usuario", content: "x" }] }), // 4 bad role (+ no assistant)
      JSON.stringify({ messages: [{ role: "assistant", content: "x" }, { role: "user", content: "y" }] }), // 5 starts with assistant, ends with user
      JSON.stringify({ messages: [{ role: "user", content: "a" }, { role: "assistant", content: null, tool_calls: [{ function: { name: "f", arguments: "{roto" } }] }] }), // 6
      JSON.stringify({ messages: [{ role: "user", content: [{ type: "image", path: "../fuera.png" }] }, { role: "assistant", content: "b" }] }), // 7 escapes
      JSON.stringify({ messages: [{ role: "user", content: [{ type: "image", path: "img/no-existe.png" }] }, { role: "assistant", content: "b" }] }), // 8 missing
      JSON.stringify({ messages: [{ role: "user", content: "a" }, { role: "tool", content: "r" }, { role: "assistant", content: "b" }] }), // 9 tool without call
      JSON.stringify({ ...toolRec, tools: [{ type: "function", function: { name: "otra" } }] }), // 10 unknown tool
      JSON.stringify({ messages: [{ role: "user", content: "a" }, { role: "user", content: "b" }, { role: "assistant", content: "" }] }), // 11
      "[1, 2]", // 12
      "", // blank: not a record
      JSON.stringify({ messages: [{ role: "user", content: "a" }, { role: "system", content: "s" }, { role: "assistant", content: "b" }] }), // 14
    ];
    writeTree(dir, { "d.jsonl": lines.join("\n") });
    const r = verifyFile(join(dir, "d.jsonl"));
    assert.equal(r.records, 13);
    assert.equal(r.valid, 2);
    const got = r.problems.map((p) => `${p.line} ${p.severity} ${p.field ?? "-"}: ${p.message}`);
    const expect = [
      /^3 error -: invalid JSON: /,
      /^4 error messages\[0\]\.role: role must be system, user, assistant or tool, found "usuario"$/,
      /^4 error messages: no assistant message: nothing to learn from$/,
      /^5 error messages\[0\]: the conversation starts with the assistant/,
      /^5 warning messages: ends with a user message \(not trained on\)$/,
      /^6 error messages\[1\]\.tool_calls\[0\]\.function\.arguments: function\.arguments is a string that is not valid JSON$/,
      /^7 error messages\[0\]\.content\[0\]: image path "\.\.\/fuera\.png" leaves the dataset folder/,
      /^8 error messages\[0\]\.content\[0\]: image file "img\/no-existe\.png" does not exist$/,
      /^9 error messages\[1\]: a tool result without a pending tool call$/,
      /^10 error messages\[1\]\.tool_calls\[0\]: calls "inventario", which is not in the record's tools$/,
      /^11 error messages\[1\]: two user messages in a row$/,
      /^11 error messages\[2\]\.content: empty content$/,
      /^12 error -: expected a JSON object with "messages", found array$/,
      /^14 error messages\[1\]: a system message may only come first$/,
    ];
    assert.equal(got.length, expect.length, got.join("\n"));
    got.forEach((g, i) => assert.match(g, expect[i]!));
    assert.equal(r.errors, 13);
    assert.equal(r.warnings, 1);
  } finally {
    cleanup();
  }
});

test("verify: a final tool call without its result is a lesson (function-calling rows); calls followed by other turns are not", () => {
  const { dir, cleanup } = tempDir();
  try {
    const call = { role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: { a: 1 } } }] };
    writeTree(dir, {
      "d.jsonl": jsonl(
        { messages: [{ role: "user", content: "¿?" }, call] },
        { messages: [{ role: "user", content: "¿?" }, call, { role: "user", content: "¿y?" }, { role: "assistant", content: "x" }] },
        { messages: [{ role: "user", content: "¿?" }, call, { role: "assistant", content: "x" }] },
      ),
    });
    const r = verifyFile(join(dir, "d.jsonl"));
    assert.deepEqual(r.problems.map((p) => `${p.line} ${p.field}: ${p.message}`), [
      "2 messages[2]: 1 tool call(s) have no result before this message",
      "3 messages[2]: two assistant messages in a row",
      "3 messages[2]: 1 tool call(s) have no result before this message",
    ]);
  } finally {
    cleanup();
  }
});

test("verify: symlinks out of the folder, token lengths against a limit, empty file", () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "ds/ok.png": "x", "secret.png": "x" });
    symlinkSync(join(dir, "secret.png"), join(dir, "ds/link.png"));
    const rec = (p: string) => ({ messages: [{ role: "user", content: [{ type: "image", path: p }] }, { role: "assistant", content: "hoja" }] });
    writeTree(dir, { "ds/d.jsonl": jsonl(rec("ok.png"), rec("link.png"), rec(join(dir, "ds/ok.png"))), "ds/e.jsonl": "\n" });
    const r = verifyFile(join(dir, "ds/d.jsonl"), { measure: (x) => JSON.stringify(x).length, maxTokens: 120 });
    assert.match(r.problems.map((p) => `${p.line}: ${p.message}`).join("\n"), /^2: image path "link\.png" resolves outside the dataset folder$/m);
    assert.equal(r.tokenLengths!.length, 2);
    const long = r.problems.find((p) => /tokens, more than/.test(p.message));
    assert.equal(long?.line, 3);
    assert.match(verifyFile(join(dir, "ds/e.jsonl")).problems[0]!.message, /the file is empty/);
  } finally {
    cleanup();
  }
});

test("messages: records pass through, string arguments become objects, image paths become absolute; invalid rows name their line", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "img/hoja.png": "png", "m.jsonl": jsonl(ok, toolRec), "bad.jsonl": jsonl(ok, { messages: [{ role: "user", content: "sin respuesta" }] }) });
    const out = await messagesConverter.convert(join(dir, "m.jsonl"), { issues: new RowIssues() });
    assert.deepEqual(out[1]!.record.messages[1]!.tool_calls![0]!.function.arguments, { producto: "urea" });
    assert.deepEqual((out[0]!.record.messages[1]!.content as Array<{ path?: string }>)[0]!.path, join(dir, "img/hoja.png"));
    await assert.rejects(messagesConverter.convert(join(dir, "bad.jsonl"), { issues: new RowIssues() }), /bad\.jsonl:2: messages: no assistant message/);
  } finally {
    cleanup();
  }
});
