// Source of notebooks/03-function-calling.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).

// %% [markdown]
// # 03 · Function calling
//
// `farm-function-calls.jsonl` holds Spanish requests to a farm-records assistant in the shape of the
// CaficulBot project: `{"query", "function"}`, where `function` is a JSON string
// `{"tool", "argumentos"}` and the arguments are either a JSON object or a `k=v, k=v` string.
// `farm-tools.json` gives the tools' JSON schemas (OpenAI `tools[]`).
//
// `prepareDataset` with the `function-calling` format turns each row into a user turn and an
// assistant turn with one OpenAI `tool_calls` entry (arguments as a JSON object), with the tools
// attached to the record. `verifyFile` (`tunekit data verify`) then checks the result.

// %% Raw rows
import * as path from "node:path";
import pl from "nodejs-polars";
import { displayBundle, showMarkdown, showPlot, showTable } from "../dist/notebooks/display.js";
import { notebookRunDir, writeRunJson } from "../dist/notebooks/run-folder.js";
import { SAMPLE_DATA_DIR } from "../dist/notebooks/samples.js";

const rawFile = path.join(SAMPLE_DATA_DIR, "farm-function-calls.jsonl");
const raw = pl.scanJson(rawFile).collectSync();
showMarkdown(`**farm-function-calls.jsonl**: ${raw.height} rows, columns ${raw.columns.join(", ")}`);
showTable(raw.head(6), {
  title: "First rows as written (note the two forms of argumentos)",
  maxCellChars: 120,
});

// %% [markdown]
// ## The tools' schemas

// %% Schema table
import { readToolsFile } from "../dist/data/index.js";
import { toolParameterRows } from "../dist/notebooks/tool-calls.js";

const toolsFile = path.join(SAMPLE_DATA_DIR, "farm-tools.json");
const tools = readToolsFile(toolsFile);
showTable(
  tools.map((t) => ({ tool: t.function.name, description: t.function.description ?? "" })),
  { title: `${tools.length} tools in farm-tools.json` },
);
showTable(toolParameterRows(tools), { title: "Parameters", maxRows: 80 });

// %% [markdown]
// ## Convert to tool-call records

// %% Prepare
import { examplesTable, prepareDataset, readRecords } from "../dist/data/index.js";

const outDir = path.join(notebookRunDir(), "data", "farm-calls");
const report = await prepareDataset({
  format: "function-calling",
  input: rawFile,
  tools: tools, // tslab: a shorthand property cannot name a variable of another cell
  outDir,
  seed: 42,
  evalFraction: 0.1,
  system: "Eres el asistente de registros de una finca cafetera. Usa las herramientas cuando haga falta.",
});
showTable([report.counts], { title: "Counts" });
const train = await readRecords(path.join(outDir, "train.jsonl"));
const evalSet = await readRecords(path.join(outDir, "eval.jsonl"));
displayBundle({
  "text/html": examplesTable(train, { limit: 4 }),
  "text/plain": `${train.length} train records`,
});
showTable(
  train.slice(0, 8).map((r) => {
    const call = r.messages.find((m) => m.tool_calls?.length)!.tool_calls![0]!;
    return {
      request: r.messages.find((m) => m.role === "user")!.content,
      tool: call.function.name,
      arguments: call.function.arguments,
    };
  }),
  { title: "Requests and the calls they become", maxCellChars: 100 },
);

// %% [markdown]
// ## Validation
//
// `verifyFile` checks every line: JSON syntax, roles and their order, tool calls (a known tool name,
// arguments as a JSON object, results that answer a pending call), tool schemas and images. The
// prepared files should be clean; a few broken records written on purpose show what it reports.

// %% verifyFile
import { writeFileSync } from "node:fs";
import { verifyFile } from "../dist/data/index.js";

const verified = [path.join(outDir, "train.jsonl"), path.join(outDir, "eval.jsonl")].map((f) =>
  verifyFile(f),
);
const brokenFile = path.join(notebookRunDir(), "data", "farm-calls-broken.jsonl");
const call = (name: string, args: unknown) => ({
  role: "assistant",
  tool_calls: [{ type: "function", function: { name, arguments: args } }],
});
writeFileSync(
  brokenFile,
  [
    {
      messages: [{ role: "user", content: "¿Cuánta urea queda?" }, call("inventario", { producto: "urea" })],
      tools: tools,
    },
    {
      messages: [{ role: "user", content: "Registra 20 kg" }, call("registrar_cosecha", "kilos=20")],
      tools: tools,
    },
    {
      messages: [
        { role: "tool", content: '{"kilos": 20}' },
        { role: "assistant", content: "Listo." },
      ],
    },
    { messages: [{ role: "cliente", content: "hola" }] },
  ]
    .map((r) => JSON.stringify(r))
    .join("\n") + "\n{not json\n",
);
verified.push(verifyFile(brokenFile));
showTable(
  verified.map((v) => ({
    file: path.basename(v.file),
    records: v.records,
    valid: v.valid,
    errors: v.errors,
    warnings: v.warnings,
  })),
  { title: "verifyFile" },
);
showTable(
  verified.flatMap((v) =>
    v.problems.map((p) => ({
      file: path.basename(v.file),
      line: p.line,
      field: p.field,
      severity: p.severity,
      message: p.message,
    })),
  ),
  { title: "Problems found", maxCellChars: 120 },
);

// %% [markdown]
// ## Calls per tool
//
// Every call is counted and its arguments are checked against the tool's schema: required arguments
// present, no undeclared ones, JSON types as declared.

// %% Calls per tool
import { countToolCalls } from "../dist/notebooks/tool-calls.js";
import { classBalanceChart } from "../dist/data/index.js";

const perTool = countToolCalls([...train, ...evalSet], tools);
showTable(perTool, { title: "Calls per tool (train + eval)" });
showPlot(
  classBalanceChart(
    perTool.map((r) => ({ label: r.tool, count: r.calls })),
    "Calls per tool",
  ),
);

// %% Write function-calling.json
const written = writeRunJson("function-calling.json", {
  dir: outDir,
  train: path.join(outDir, "train.jsonl"),
  eval: path.join(outDir, "eval.jsonl"),
  tools: toolsFile,
  counts: report.counts,
  callsPerTool: perTool,
  verify: verified
    .slice(0, 2)
    .map((v) => ({ file: v.file, records: v.records, valid: v.valid, errors: v.errors })),
});
showMarkdown(`Wrote \`${written}\`.`);
