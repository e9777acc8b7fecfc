import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { shareGptConverter } from "../../lib/data/formats/sharegpt.js";
import { RowIssues } from "../../lib/data/issues.js";
import { checkRecord } from "../../lib/data/verify.js";
import { shared, tempDir, writeTree } from "./helpers.js";

const tool = { name: "consultar_clima", description: "Clima de un municipio", parameters: { type: "object", properties: { municipio: { type: "string" } }, required: ["municipio"] } };

test("sharegpt: human/gpt/function_call/observation → user/assistant tool_calls/tool, tools parsed from a JSON string", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const row = {
      system: "Eres un asistente agrícola.",
      tools: JSON.stringify([tool]),
      conversations: [
        { from: "human", value: "¿Va a llover en Pitalito? 🌧" },
        { from: "function_call", value: JSON.stringify({ name: "consultar_clima", arguments: { municipio: "Pitalito" } }) },
        { from: "observation", value: '{"lluvia_mm": 12.5}' },
        { from: "gpt", value: "Sí: se esperan 12,5 mm." },
      ],
    };
    writeTree(dir, { "s.json": JSON.stringify([row], null, 2) });
    const out = await shareGptConverter.convert(join(dir, "s.json"), { issues: new RowIssues() });
    assert.deepEqual(out[0]!.record, {
      messages: [
        { role: "system", content: "Eres un asistente agrícola." },
        { role: "user", content: "¿Va a llover en Pitalito? 🌧" },
        { role: "assistant", content: null, tool_calls: [{ id: "call_0", type: "function", function: { name: "consultar_clima", arguments: { municipio: "Pitalito" } } }] },
        { role: "tool", tool_call_id: "call_0", name: "consultar_clima", content: '{"lluvia_mm": 12.5}' },
        { role: "assistant", content: "Sí: se esperan 12,5 mm." },
      ],
      tools: [{ type: "function", function: tool }],
    });
    assert.equal(out[0]!.origin.line, 2);
  } finally {
    cleanup();
  }
});

test("sharegpt: malformed turns name file, line and turn", async () => {
  const { dir, cleanup } = tempDir();
  const bad: Array<[unknown, RegExp]> = [
    [{ conversations: "hola" }, /:1, field "conversations": expected an array, found string/],
    [{ conversations: [{ from: "human", value: 3 }] }, /:1, field "conversations\[0\]": "value" must be a string, found number/],
    [{ conversations: [{ from: "robot", value: "x" }] }, /unknown speaker "robot"/],
    [{ conversations: [{ from: "function_call", value: "{mal" }] }, /conversations\[0\]": function_call is not valid JSON/],
    [{ conversations: [{ from: "observation", value: "{}" }] }, /an observation without a preceding function_call/],
    [{ conversations: [{ from: "function_call", value: '{"name": "f", "arguments": {}}' }] }, /1 function call\(s\) without an observation/],
    [{ conversations: [], tools: "[{" }, /"tools" is not valid JSON/],
  ];
  try {
    for (const [row, re] of bad) {
      writeTree(dir, { "b.jsonl": JSON.stringify(row) + "\n" });
      await assert.rejects(shareGptConverter.convert(join(dir, "b.jsonl"), { issues: new RowIssues() }), re);
    }
  } finally {
    cleanup();
  }
});

test("sharegpt: the glaive demo converts with all 211 function calls and their results preserved", { skip: !shared && "../shared is absent" }, async () => {
  const file = join(shared!, "data/function-calling/glaive_toolcall_en_demo.json");
  const raw = JSON.parse(readFileSync(file, "utf8")) as Array<{ conversations: Array<{ from: string; value: string }>; tools: string }>;
  const out = await shareGptConverter.convert(file, { issues: new RowIssues() });
  assert.equal(out.length, 300);
  let calls = 0;
  let results = 0;
  out.forEach((o, k) => {
    assert.deepEqual(checkRecord(o.record, o.origin).filter((p) => p.severity === "error"), []);
    const want = raw[k]!.conversations;
    const fc = want.filter((t) => t.from === "function_call").map((t) => JSON.parse(t.value) as { name: string; arguments: unknown });
    const obs = want.filter((t) => t.from === "observation").map((t) => t.value);
    const gotCalls = o.record.messages.flatMap((m) => m.tool_calls ?? []);
    const gotResults = o.record.messages.filter((m) => m.role === "tool");
    assert.deepEqual(gotCalls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })), fc);
    assert.deepEqual(gotResults.map((m) => m.content), obs);
    assert.deepEqual(gotResults.map((m) => m.tool_call_id), gotCalls.map((c) => c.id));
    assert.equal(o.record.messages.length, want.length);
    assert.deepEqual(o.record.tools?.map((t) => t.function) ?? [], JSON.parse(raw[k]!.tools || "[]"));
    calls += gotCalls.length;
    results += gotResults.length;
  });
  assert.equal(calls, 211);
  assert.equal(results, 211);
});
