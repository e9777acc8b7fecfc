import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { chatExportConverter } from "../../lib/data/formats/chat-export.js";
import { RowIssues } from "../../lib/data/issues.js";
import { dedupe } from "../../lib/data/split.js";
import { tempDir, writeTree } from "./helpers.js";

const u = (t: string) => ({ sender: "User", userInput: t });
const a = (t: string) => ({ sender: "Claude", claudeOutputText: t });
const pretty = (v: unknown) => JSON.stringify(v, null, 4);

function conversation(): unknown[] {
  return [u("Привет, можешь помочь?"), a("Конечно! Чем могу помочь?"), u("¿Qué es la roya?"), a("Un hongo: Hemileia vastatrix."), u("¿Y la broca?"), a("Un insecto."), u("Gracias 🙏"), a("¡Con gusto!"), u("Adiós"), a("Hasta luego.")];
}

test("chat-export instruct: each user message with the next reply, folders read recursively", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "a/b/chat.json": pretty(conversation()), "notas.txt": "no es json" });
    const out = await chatExportConverter.convert(dir, { issues: new RowIssues() });
    assert.equal(out.length, 5);
    assert.deepEqual(out[0]!.record.messages, [
      { role: "user", content: "Привет, можешь помочь?" },
      { role: "assistant", content: "Конечно! Чем могу помочь?" },
    ]);
    assert.deepEqual(out[4]!.record.messages.map((m) => m.content), ["Adiós", "Hasta luego."]);
    // Lines of the first message of each pair in the pretty-printed file: objects start at 2, 6, 10, …
    assert.deepEqual(out.map((o) => o.origin.line), [2, 10, 18, 26, 34]);
  } finally {
    cleanup();
  }
});

test("chat-export conversational: pairs + expanding 2,4,6… + sliding windows (hand-counted)", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "c.json": pretty(conversation()) });
    const out = await chatExportConverter.convert(dir, { issues: new RowIssues(), mode: "conversational", window: 4 });
    // 10 turns: 5 pairs + histories of 2, 4, 6, 8, 10 turns + windows of 4 starting at turns 0, 2, 4, 6.
    assert.deepEqual(out.map((o) => o.record.messages.length), [2, 2, 2, 2, 2, 2, 4, 6, 8, 10, 4, 4, 4, 4]);
    assert.deepEqual(out[13]!.record.messages.map((m) => m.content), ["Gracias 🙏", "¡Con gusto!", "Adiós", "Hasta luego."]);
    // history of 2 = first pair and history of 4 = first window: de-duplication leaves 12.
    assert.equal(dedupe(out).kept.length, 12);
    const w8 = await chatExportConverter.convert(dir, { issues: new RowIssues(), mode: "conversational", system: "Sé breve." });
    assert.deepEqual(w8.map((o) => o.record.messages.length - 1), [2, 2, 2, 2, 2, 2, 4, 6, 8, 10, 8, 8]);
    assert.equal(w8[0]!.record.messages[0]!.role, "system");
  } finally {
    cleanup();
  }
});

test("chat-export: consecutive messages join, a leading reply and a trailing question are left out, instruction/output pairs are taken", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const items = [a("(saludo previo)"), u("Tengo dos preguntas."), u("¿Cuándo se siembra?"), a("En la época de lluvias."), { instruction: "Traduce «café»", output: "coffee" }, u("¿Sin respuesta?")];
    writeTree(dir, { "c.json": pretty(items) });
    const out = await chatExportConverter.convert(join(dir, "c.json"), { issues: new RowIssues() });
    assert.deepEqual(
      out.map((o) => o.record.messages.map((m) => m.content)),
      [
        ["Traduce «café»", "coffee"],
        ["Tengo dos preguntas.\n\n¿Cuándo se siembra?", "En la época de lluvias."],
      ],
    );
  } finally {
    cleanup();
  }
});

test("chat-export: malformed messages and files name file and line", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, {
      "missing.json": pretty([u("hola"), { sender: "Claude" }]),
      "type.json": pretty([{ sender: 7, userInput: "x" }]),
      "nosender.json": pretty([{ texto: "x" }]),
      "broken.json": '[\n  {"sender": "User", "userInput": "hola"},\n  {"sender": "Claude", \n]',
      "object.json": '{"a": 1}',
      "empty.json": "",
    });
    const conv = (f: string, skip = false) => chatExportConverter.convert(join(dir, f), { issues: new RowIssues(skip) });
    await assert.rejects(conv("missing.json"), /missing\.json:6, field "claudeOutputText": missing/);
    await assert.rejects(conv("type.json"), /type\.json:2, field "sender": expected a string, found number/);
    await assert.rejects(conv("nosender.json"), /nosender\.json:2: expected "sender" \(or an "instruction"\/"output" pair\)/);
    await assert.rejects(conv("broken.json"), /broken\.json:4: invalid JSON: expected a string key at column 1/);
    await assert.rejects(conv("object.json"), /object\.json:1: expected a JSON array of messages, found object/);
    await assert.rejects(conv("empty.json"), /empty\.json: the file is empty/);
    const issues = new RowIssues(true);
    const out = await chatExportConverter.convert(dir, { issues });
    assert.equal(out.length, 0);
    assert.deepEqual(issues.skipped.map((p) => [p.file!.slice(dir.length + 1), p.line]), [
      ["broken.json", 4],
      ["empty.json", undefined],
      ["missing.json", 6],
      ["nosender.json", 2],
      ["object.json", 1],
      ["type.json", 2],
    ]);
  } finally {
    cleanup();
  }
});
