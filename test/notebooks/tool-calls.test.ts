// countToolCalls / toolParameterRows (03-function-calling's tables) on hand-written records.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ToolSchema } from "../../lib/chat/types.js";
import type { ChatRecord } from "../../lib/data/record.js";
import { countToolCalls, toolParameterRows } from "../../lib/notebooks/tool-calls.js";

const tools: ToolSchema[] = [
  {
    type: "function",
    function: {
      name: "registrar_cosecha",
      parameters: {
        type: "object",
        properties: {
          lote: { type: "string" },
          kilos: { type: "number" },
          estado: { type: "string", enum: ["cereza", "pergamino seco"] },
        },
        required: ["lote", "kilos"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "inventario_consulta",
      parameters: { type: "object", properties: { producto: { type: "string" } }, required: ["producto"] },
    },
  },
];
const call = (name: string, args: Record<string, unknown> | string): ChatRecord => ({
  messages: [
    { role: "user", content: "x" },
    { role: "assistant", tool_calls: [{ type: "function", function: { name, arguments: args } }] },
  ],
});

test("countToolCalls counts calls per tool and checks arguments against the schemas", () => {
  const rows = countToolCalls(
    [
      call("registrar_cosecha", { lote: "Guayabal", kilos: 95 }), // fine (an integer is a number)
      call("registrar_cosecha", { lote: "Guayabal" }), // kilos missing
      call("registrar_cosecha", '{"lote": "Alto", "kilos": "20", "nota": "x"}'), // wrong type + unknown
      call("borrar_todo", {}), // not a known tool
    ],
    tools,
  );
  assert.deepEqual(rows, [
    {
      tool: "registrar_cosecha",
      calls: 3,
      missingRequired: 1,
      unknownArguments: 1,
      wrongType: 1,
      known: true,
    },
    { tool: "borrar_todo", calls: 1, missingRequired: 0, unknownArguments: 0, wrongType: 0, known: false },
    {
      tool: "inventario_consulta",
      calls: 0,
      missingRequired: 0,
      unknownArguments: 0,
      wrongType: 0,
      known: true,
    },
  ]);
});

test("toolParameterRows lists every parameter with its type and whether it is required", () => {
  assert.deepEqual(
    toolParameterRows(tools).map((r) => [r.tool, r.parameter, r.type, r.required]),
    [
      ["registrar_cosecha", "lote", "string", true],
      ["registrar_cosecha", "kilos", "number", true],
      ["registrar_cosecha", "estado", "string (2 values)", false],
      ["inventario_consulta", "producto", "string", true],
    ],
  );
});
