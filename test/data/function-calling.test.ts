import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { functionCallingConverter, parseKeyValueArguments } from "../../lib/data/formats/function-calling.js";
import { RowIssues } from "../../lib/data/issues.js";
import { inferToolSchemas, readToolsFile } from "../../lib/data/tools.js";
import { jsonl, tempDir, writeTree } from "./helpers.js";

const fn = (tool: string, argumentos: unknown) => JSON.stringify({ tool, argumentos });

test("k=v arguments: numbers only when written as numbers, quotes removed, commas inside values kept", () => {
  assert.deepEqual(parseKeyValueArguments("producto=fertilizante"), { producto: "fertilizante" });
  assert.deepEqual(parseKeyValueArguments("monto=275000, concepto=plástico, lote=L-03"), { monto: 275000, concepto: "plástico", lote: "L-03" });
  assert.deepEqual(parseKeyValueArguments('nota="abono, cal", telefono=0123, kilos=12.5'), { nota: "abono, cal", telefono: "0123", kilos: 12.5 });
  assert.deepEqual(parseKeyValueArguments("nota=abono, cal y yeso"), { nota: "abono, cal y yeso" });
  assert.equal(parseKeyValueArguments("solo texto"), undefined);
});

test("function-calling: CaficulBot rows → assistant tool calls with JSON-object arguments and inferred schemas", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, "fc.jsonl");
    writeTree(dir, {
      "fc.jsonl": jsonl(
        { query: "¿Cuánto fertilizante tenemos?", function: fn("inventario_consulta", "producto=fertilizante") },
        { query: "¿Hay cal en la bodega de abajo?", function: fn("inventario_consulta", { producto: "cal", bodega: "abajo" }) },
        { query: "Gasté 120000 en jornales", function: JSON.stringify({ tool: "registrar_gasto", arguments: '{"monto": 120000, "concepto": "jornales"}' }) },
        { query: "Gasto de 99,5 en café", function: fn("registrar_gasto", "monto=99.5, concepto=café") },
      ),
    });
    const out = await functionCallingConverter.convert(f, { issues: new RowIssues(), system: "Asistente de la finca" });
    assert.equal(out.length, 4);
    assert.deepEqual(out[0]!.record.messages, [
      { role: "system", content: "Asistente de la finca" },
      { role: "user", content: "¿Cuánto fertilizante tenemos?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_0", type: "function", function: { name: "inventario_consulta", arguments: { producto: "fertilizante" } } }] },
    ]);
    assert.deepEqual(out[2]!.record.messages[2]!.tool_calls![0]!.function.arguments, { monto: 120000, concepto: "jornales" });
    // Hand-computed schemas: bodega appears in 1 of 2 calls (optional); monto is integer and number → number.
    assert.deepEqual(out[0]!.record.tools, [
      {
        type: "function",
        function: { name: "inventario_consulta", parameters: { type: "object", properties: { bodega: { type: "string" }, producto: { type: "string" } }, required: ["producto"] } },
      },
      {
        type: "function",
        function: { name: "registrar_gasto", parameters: { type: "object", properties: { concepto: { type: "string" }, monto: { type: "number" } }, required: ["concepto", "monto"] } },
      },
    ]);
    assert.deepEqual(out[3]!.record.tools, out[0]!.record.tools);
  } finally {
    cleanup();
  }
});

test("function-calling: --tools file (either shape) is used as given; an unknown tool is an error with its line", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, {
      "tools.json": JSON.stringify([
        { type: "function", function: { name: "inventario_consulta", description: "Consulta la bodega", parameters: { type: "object", properties: { producto: { type: "string" } } } } },
        { name: "registrar_cosecha", parameters: { type: "object", properties: { kilos: { type: "number" } } } },
      ]),
      "fc.jsonl": jsonl({ query: "¿Hay urea?", function: fn("inventario_consulta", "producto=urea") }, { query: "Registra 30 kilos", function: fn("registrar_venta", "kilos=30") }),
    });
    const tools = readToolsFile(join(dir, "tools.json"));
    assert.equal(tools[1]!.type, "function");
    assert.equal(tools[1]!.function.name, "registrar_cosecha");
    await assert.rejects(
      functionCallingConverter.convert(join(dir, "fc.jsonl"), { issues: new RowIssues(), tools }),
      new RegExp(`fc\\.jsonl:2, field "function": calls tool "registrar_venta", which is not in --tools`),
    );
    const issues = new RowIssues(true);
    const out = await functionCallingConverter.convert(join(dir, "fc.jsonl"), { issues, tools });
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]!.record.tools, tools);
  } finally {
    cleanup();
  }
});

test("function-calling: malformed function fields name file, line and field", async () => {
  const { dir, cleanup } = tempDir();
  const cases: Array<[unknown, RegExp]> = [
    [{ query: "a", function: "{no es json" }, /:1, field "function": not valid JSON/],
    [{ query: "a", function: fn("", "x=1") }, /:1, field "function": needs a "tool" name string/],
    [{ query: "a", function: fn("t", 42) }, /:1, field "function": arguments must be an object or a string, found number/],
    [{ query: "a", function: fn("t", "{\"roto\": ") }, /:1, field "function": arguments look like JSON but are not a valid JSON object/],
    [{ query: "a", function: fn("t", "solo texto") }, /:1, field "function": arguments are neither a JSON object nor "k=v, k=v" text/],
    [{ query: "a" }, /:1, field "function": missing/],
    [{ query: 5, function: fn("t", "a=1") }, /:1, field "query": expected a string, found number/],
  ];
  try {
    for (const [row, re] of cases) {
      writeTree(dir, { "x.jsonl": jsonl(row) });
      await assert.rejects(functionCallingConverter.convert(join(dir, "x.jsonl"), { issues: new RowIssues() }), re);
    }
  } finally {
    cleanup();
  }
});

test("inferToolSchemas: mixed types become a type list; result is independent of row order", () => {
  const calls = [
    { name: "b", arguments: { x: 1, y: "s" } },
    { name: "a", arguments: { z: true } },
    { name: "b", arguments: { x: "uno" } },
  ];
  const s1 = inferToolSchemas(calls);
  assert.deepEqual(s1.map((t) => t.function.name), ["a", "b"]);
  assert.deepEqual(s1[1]!.function.parameters, { type: "object", properties: { x: { type: ["integer", "string"] }, y: { type: "string" } }, required: ["x"] });
  assert.deepEqual(inferToolSchemas(calls.slice().reverse()), s1);
});
