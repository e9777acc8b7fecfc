import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chatRender, loadModelText, recordTokenCounter } from "../../lib/data/model-text.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";
import { verifyFile } from "../../lib/data/verify.js";
import { jinjaRender, jsonl, shared, sharedTemplate, tempDir, writeTree } from "./helpers.js";

const MODEL = shared && join(shared, "models/tiny-random-llama/llama-2-tiny-random.gguf");

test("model text: tokenizer and context length from the GGUF header (context length as node-llama-cpp reads it)", { skip: !shared && "../shared is absent" }, async () => {
  const m = loadModelText(MODEL!);
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(MODEL!);
  assert.equal(m.contextLength, Number((info.metadata as { llama: { context_length: number } }).llama.context_length));
  assert.equal(m.tokenizer.vocabSize, 32000);
  const count = recordTokenCounter(m);
  // No chat template in this file: the text of the messages joined by newlines, with BOS.
  assert.equal(count({ messages: [{ role: "user", content: "Hola" }, { role: "assistant", content: "Sí" }] }), 1 + m.tokenizer.encode("Hola\nSí").length);
});

test("chatRender (lib/chat renderChat) renders like @huggingface/jinja and shows image parts to templates as images", { skip: !shared && "../shared is absent" }, () => {
  const msgs = [
    { role: "user" as const, content: "¿Qué tal? ☕" },
    { role: "assistant" as const, content: "Bien, «gracias»." },
  ];
  for (const line of [6, 21, 22]) {
    const { template } = sharedTemplate(line);
    const opts = { addGenerationPrompt: false };
    assert.equal(chatRender(template, { bosToken: "<s>", eosToken: "</s>" })(msgs, opts), jinjaRender(template)(msgs, opts));
  }
  const t = "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{% if p.type == 'image' %}<img>{% else %}{{ p.text }}{% endif %}{% endfor %}{% endif %}|{% endfor %}";
  const withImage = [{ role: "user" as const, content: [{ type: "image" as const, path: "images/hoja.png" }, { type: "text" as const, text: "¿Enfermedad?" }] }, { role: "assistant" as const, content: "Roya" }];
  assert.equal(chatRender(t)(withImage, { addGenerationPrompt: false }), "<img>¿Enfermedad?|Roya|");
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(PACKAGE_ROOT, "lib/cli/main.ts"), ...args], { cwd: PACKAGE_ROOT });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test("CLI: data verify exits 1 listing every problem; data prepare --json writes the folder and one JSON report", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "bad.jsonl": jsonl({ messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }] }, { messages: [{ role: "user", content: "sin respuesta" }] }) + "{roto\n" });
    const out = join(dir, "fc");
    const [verify, prepare] = await Promise.all([
      cli(["data", "verify", join(dir, "bad.jsonl"), "--json"]),
      cli(["data", "prepare", "--format", "function-calling", "--in", "data/farm-function-calls.jsonl", "--tools", "data/farm-tools.json", "--out", out, "--system", "Asistente de la finca", "--json"]),
    ]);
    assert.equal(verify.code, 1, verify.stderr);
    const v = JSON.parse(verify.stdout) as { records: number; valid: number; errors: number; problems: Array<{ line: number; message: string }> };
    assert.deepEqual([v.records, v.valid, v.errors], [3, 1, 2]);
    assert.deepEqual(v.problems.map((p) => p.line), [2, 3]);
    assert.equal(prepare.code, 0, prepare.stderr);
    const report = JSON.parse(prepare.stdout) as { counts: { train: number; eval: number }; tools: unknown };
    assert.deepEqual(report, JSON.parse(readFileSync(join(out, "report.json"), "utf8")));
    assert.deepEqual(report.tools, JSON.parse(readFileSync(join(PACKAGE_ROOT, "data/farm-tools.json"), "utf8")));
    assert.equal(report.counts.train + report.counts.eval, 40);
    const first = JSON.parse(readFileSync(join(out, "train.jsonl"), "utf8").split("\n")[0]!) as { messages: Array<{ role: string }> };
    assert.deepEqual(first.messages.map((m) => m.role), ["system", "user", "assistant"]);
    assert.equal(verifyFile(join(out, "train.jsonl")).errors, 0);
  } finally {
    cleanup();
  }
});
