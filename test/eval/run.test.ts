// `eval` end to end: a tiny eval set through the tiny random Llama (llama.cpp), and through a stand-in
// OpenAI-compatible endpoint with known answers (so every metric is known); then `eval report`.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { sharedDir, PACKAGE_ROOT } from "../../lib/util/paths.js";
import { runEval, type EvalRunResult } from "../../lib/eval/run.js";
import { buildReport, formatReport, loadEvalRuns, parseTarget } from "../../lib/eval/report.js";
import { corpusBleu, corpusChrf } from "../../lib/eval/metrics/index.js";

const shared = sharedDir();
const modelPath = shared && join(shared, "models/tiny-random-llama/llama-2-tiny-random.gguf");
const dir = mkdtempSync(join(tmpdir(), "tunekit-eval-"));
const data = join(dir, "eval.jsonl");
const tool = {
  type: "function",
  function: {
    name: "inventario_consulta",
    parameters: {
      type: "object",
      properties: { producto: { enum: ["fertilizante", "semillas"] } },
      required: ["producto"],
    },
  },
};
const records = [
  {
    messages: [
      { role: "system", content: "Translate to search syntax." },
      { role: "user", content: "Find Python files" },
      { role: "assistant", content: "lang:python" },
    ],
  },
  {
    messages: [
      { role: "user", content: "¿Cómo controlar la roya del café?" },
      { role: "assistant", content: "Con variedades resistentes y fungicidas." },
    ],
  },
  {
    messages: [
      { role: "user", content: "¿Cuánto fertilizante tenemos?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            type: "function",
            function: { name: "inventario_consulta", arguments: '{"producto":"fertilizante"}' },
          },
        ],
      },
    ],
    tools: [tool],
  },
];
writeFileSync(data, records.map((r) => JSON.stringify(r)).join("\n") + "\n");

// A stand-in endpoint: answers ex. 1 correctly, ex. 2 wrongly, ex. 3 with the right call; records auth.
let endpoint: Server;
let endpointUrl = "";
const seenAuth: string[] = [];
before(async () => {
  endpoint = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seenAuth.push(req.headers.authorization ?? "");
      res.setHeader("content-type", "application/json");
      if (req.url === "/v1/models")
        return res.end(JSON.stringify({ object: "list", data: [{ id: "baseline-mini" }] }));
      const { messages, model } = JSON.parse(body) as { messages: Array<{ content: string }>; model: string };
      assert.equal(model, "baseline-mini");
      const q = messages.at(-1)!.content;
      const message = q.includes("Python")
        ? { role: "assistant", content: "lang:python" }
        : q.includes("roya")
          ? { role: "assistant", content: "Con fungicidas." }
          : {
              role: "assistant",
              content: null,
              tool_calls: [
                {
                  id: "c1",
                  type: "function",
                  function: { name: "inventario_consulta", arguments: '{"producto": "fertilizante"}' },
                },
              ],
            };
      res.end(
        JSON.stringify({
          choices: [{ index: 0, message, finish_reason: "stop" }],
          usage: { prompt_tokens: 10, completion_tokens: 4 },
        }),
      );
    });
  });
  await new Promise<void>((r) => endpoint.listen(0, "127.0.0.1", r));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/v1`;
});
after(() => new Promise<void>((r) => endpoint.close(() => r())));

test("eval through an OpenAI-compatible endpoint gives the hand-known scores", async () => {
  process.env.OPENAI_API_KEY = "sk-eval-test";
  try {
    const { result, dir: out } = await runEval({
      data,
      endpoint: endpointUrl,
      out: join(dir, "baseline"),
      name: "baseline",
    });
    assert.equal(out, join(dir, "baseline"));
    assert.ok(seenAuth.every((a) => a === "Bearer sk-eval-test"));
    const m = result.metrics;
    assert.equal(m.examples, 3);
    assert.equal(m.text_examples, 2);
    assert.equal(m.exact_match, 0.5);
    assert.equal(m.fc_valid_json, 1);
    assert.equal(m.fc_tool_name_acc, 1);
    assert.equal(m.fc_args_exact, 1);
    assert.equal(m.fc_f1, 1);
    const hyps = ["lang:python", "Con fungicidas."];
    const refs = [["lang:python"], ["Con variedades resistentes y fungicidas."]];
    assert.equal(m.bleu, corpusBleu(hyps, refs).score);
    assert.equal(m.chrf, corpusChrf(hyps, refs).score);
    assert.equal(m.nll, undefined); // endpoints give no log-probs
    assert.ok(m.latency_p50_ms >= 0);
  } finally {
    delete process.env.OPENAI_API_KEY;
  }
});

test(
  "eval of a GGUF in llama.cpp, end to end, with forced tool calls",
  { skip: !shared && "../shared is absent" },
  async () => {
    const out = join(dir, "tiny");
    const { result } = await runEval({
      data,
      model: modelPath!,
      out,
      maxTokens: 96,
      toolChoice: "required",
      threads: 1,
      contextSize: 512,
      validator: { regex: "\\S.*" },
      metrics: ["bleu", "chrf", "rouge", "exact", "nll", "function-calling", "syntax", "latency"],
    });
    const saved = JSON.parse(readFileSync(join(out, "eval.json"), "utf8")) as EvalRunResult;
    assert.deepEqual(saved.metrics, result.metrics);
    assert.equal(saved.backend.kind, "llama.cpp");
    const predictions = readFileSync(join(out, "predictions.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { line: number; prediction: { tool_calls?: unknown[] } });
    assert.deepEqual(
      predictions.map((p) => p.line),
      [1, 2, 3],
    );
    const m = result.metrics;
    // The grammar forces a well-formed call to the only tool.
    assert.equal(m.fc_valid_json, 1);
    assert.equal(m.fc_tool_name_acc, 1);
    assert.equal(predictions[2].prediction.tool_calls?.length, 1);
    // Random weights: the reference answers cost about ln(32000) nats per token.
    assert.ok(Math.abs(m.nll - Math.log(32000)) < 0.3, `nll ${m.nll}`);
    assert.ok(m.bleu >= 0 && m.bleu <= 100);
    assert.ok(m.syntax_valid >= 0 && m.syntax_valid <= 1);
    assert.ok(m.tokens_per_s > 0);
  },
);

test(
  "eval report tabulates saved runs, compares with the first, checks targets",
  { skip: !shared && "../shared is absent" },
  () => {
    const runs = loadEvalRuns([dir]);
    assert.deepEqual(runs.map((r) => r.result.name).sort(), ["baseline", "llama-2-tiny-random"]);
    const table = buildReport(runs, [parseTarget("exact_match>=0.5"), parseTarget("latency_p50_ms<=100000")]);
    const exact = table.rows.find((r) => r.metric === "exact_match")!;
    const baselineIdx = runs.findIndex((r) => r.result.name === "baseline");
    assert.equal(exact.values[baselineIdx], 0.5);
    assert.equal(exact.pass![baselineIdx], true);
    const text = formatReport(table);
    assert.match(text, /exact_match/);
    assert.match(text, /baseline/);
    // the CLI prints the same table as JSON
    const cli = spawnSync(
      process.execPath,
      ["--import", "tsx", join(PACKAGE_ROOT, "lib/cli/main.ts"), "eval", "report", dir, "--json"],
      { encoding: "utf8" },
    );
    assert.equal(cli.status, 0, cli.stderr);
    const doc = JSON.parse(cli.stdout) as { runs: unknown[]; rows: Array<{ metric: string }> };
    assert.equal(doc.runs.length, 2);
    assert.ok(doc.rows.some((r) => r.metric === "bleu"));
  },
);
