import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { instructionConverter } from "../../lib/data/formats/instruction.js";
import { chunkText, textConverter } from "../../lib/data/formats/text.js";
import { RowIssues } from "../../lib/data/issues.js";
import { jsonl, shared, tempDir, writeTree } from "./helpers.js";

test("instruction: instruction + input + output, optional system and history (Gemergency / Alpaca shape)", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, {
      "e.jsonl": jsonl(
        { instruction: "¿Qué hago ante una quemadura?", input: "", output: "Enfríe con agua 20 minutos." },
        { instruction: "Resume:", input: "El café se cosecha maduro.", output: "Cosechar maduro.", system: "Resume en español." },
        { instruction: "¿Y después?", output: "Cubra con gasa.", history: [["¿Quemadura?", "Agua fría."]] },
      ),
    });
    const out = await instructionConverter.convert(join(dir, "e.jsonl"), { issues: new RowIssues() });
    assert.deepEqual(out.map((o) => o.record.messages), [
      [
        { role: "user", content: "¿Qué hago ante una quemadura?" },
        { role: "assistant", content: "Enfríe con agua 20 minutos." },
      ],
      [
        { role: "system", content: "Resume en español." },
        { role: "user", content: "Resume:\n\nEl café se cosecha maduro." },
        { role: "assistant", content: "Cosechar maduro." },
      ],
      [
        { role: "user", content: "¿Quemadura?" },
        { role: "assistant", content: "Agua fría." },
        { role: "user", content: "¿Y después?" },
        { role: "assistant", content: "Cubra con gasa." },
      ],
    ]);
  } finally {
    cleanup();
  }
});

test("instruction: the shared identity.json converts", { skip: !shared && "../shared is absent" }, async () => {
  const out = await instructionConverter.convert(join(shared!, "data/text/identity.json"), { issues: new RowIssues() });
  assert.ok(out.length > 10);
  assert.deepEqual(out[0]!.record.messages[0], { role: "user", content: "hi" });
  assert.equal(out[0]!.origin.line, 2);
});

test("instruction: missing output, wrong types and bad history name the line and field", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, {
      "m.jsonl": jsonl({ instruction: "a", output: "b" }, { instruction: "sin salida" }),
      "t.jsonl": jsonl({ instruction: "a", input: ["x"], output: "b" }),
      "h.jsonl": jsonl({ instruction: "a", output: "b", history: [["solo uno"]] }),
    });
    const conv = (f: string) => instructionConverter.convert(join(dir, f), { issues: new RowIssues() });
    await assert.rejects(conv("m.jsonl"), /m\.jsonl:2, field "output": missing/);
    await assert.rejects(conv("t.jsonl"), /t\.jsonl:1, field "input": expected a string, found array/);
    await assert.rejects(conv("h.jsonl"), /h\.jsonl:1, field "history": each entry must be a \[user, assistant\] pair of strings/);
  } finally {
    cleanup();
  }
});

test("text: .txt chunks at paragraph breaks within the limit; JSONL {text} rows; errors", async () => {
  const paras = ["Érase una vez un cafetal.", "Había roya en las hojas, y el caficultor — preocupado — llamó al técnico.", "Fin ☕."];
  const chunks = chunkText(paras.join("\n\n"), 90);
  assert.deepEqual(chunks, [
    { text: paras[0], line: 1 },
    { text: `${paras[1]}\n\n${paras[2]}`, line: 3 },
  ]);
  const long = "palabra ".repeat(30).trim();
  assert.ok(chunkText(long, 50).every((c) => c.text.length <= 50));
  assert.equal(chunkText(long, 50).map((c) => c.text).join(" "), long);
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "a.txt": paras.join("\n\n"), "b.jsonl": jsonl({ text: "Texto ñ" }, { texto: "mal" }), "c.txt": "\n\n" });
    const out = await textConverter.convert(join(dir, "a.txt"), { issues: new RowIssues(), chunkChars: 90 });
    assert.deepEqual(out.map((o) => o.record), [{ messages: [], text: paras[0] }, { messages: [], text: `${paras[1]}\n\n${paras[2]}` }]);
    await assert.rejects(textConverter.convert(join(dir, "b.jsonl"), { issues: new RowIssues() }), /b\.jsonl:2, field "text": missing/);
    await assert.rejects(textConverter.convert(join(dir, "c.txt"), { issues: new RowIssues() }), /c\.txt: the file is empty/);
  } finally {
    cleanup();
  }
});
