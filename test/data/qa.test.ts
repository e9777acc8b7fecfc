import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import pl from "nodejs-polars";
import { qaConverter } from "../../lib/data/formats/qa.js";
import { RowIssues } from "../../lib/data/issues.js";
import { jsonl, tempDir, writeTree } from "./helpers.js";

const opts = (extra = {}) => ({ issues: new RowIssues(), ...extra });

test("qa: CaficulBot's preguntas/respuestas JSONL (sergioq2/coffe shape) with a system prompt", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, "coffe.jsonl");
    writeTree(dir, {
      "coffe.jsonl": jsonl(
        { preguntas: "¿Cómo controlar la roya del café?", respuestas: "Para el control de la roya se recomienda… variedades resistentes ☕" },
        { preguntas: "¿Qué es la broca?", respuestas: "Un insecto (Hypothenemus hampei) que perfora el fruto." },
      ),
    });
    const out = await qaConverter.convert(f, opts({ system: "Eres CaficulBot, asistente cafetero." }));
    assert.equal(out.length, 2);
    assert.deepEqual(out[0]!.record, {
      messages: [
        { role: "system", content: "Eres CaficulBot, asistente cafetero." },
        { role: "user", content: "¿Cómo controlar la roya del café?" },
        { role: "assistant", content: "Para el control de la roya se recomienda… variedades resistentes ☕" },
      ],
    });
    assert.deepEqual(out[1]!.origin, { file: f, line: 2 });
  } finally {
    cleanup();
  }
});

test("qa: CSV with quoted commas/newlines, Parquet, JSON array, prompt/completion and given columns", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, {
      "a.csv": 'id,prompt,completion\n1,"Hola, ¿qué tal?","Bien,\ngracias"\n',
      "b.json": '[{"Pregunta": "¿Año?", "Respuesta": "2024"}]',
      "c.jsonl": jsonl({ titulo_producto: "Taza de café", desc: "Taza de cerámica 🍵" }),
    });
    pl.DataFrame({ question: ["¿Dónde?"], answer: ["En Huila"] }).writeParquet(join(dir, "d.parquet"));
    const csv = await qaConverter.convert(join(dir, "a.csv"), opts());
    assert.deepEqual(csv[0]!.record.messages.map((m) => m.content), ["Hola, ¿qué tal?", "Bien,\ngracias"]);
    assert.equal(csv[0]!.origin.line, 2);
    const js = await qaConverter.convert(join(dir, "b.json"), opts());
    assert.deepEqual(js[0]!.record.messages.map((m) => m.content), ["¿Año?", "2024"]);
    const pq = await qaConverter.convert(join(dir, "d.parquet"), opts());
    assert.deepEqual(pq[0]!.record.messages.map((m) => m.content), ["¿Dónde?", "En Huila"]);
    const given = await qaConverter.convert(join(dir, "c.jsonl"), opts({ questionColumn: "titulo_producto", answerColumn: "desc" }));
    assert.deepEqual(given[0]!.record.messages.map((m) => m.content), ["Taza de café", "Taza de cerámica 🍵"]);
    await assert.rejects(qaConverter.convert(join(dir, "c.jsonl"), opts()), /c\.jsonl:1: cannot tell which column holds the question \(columns are: "titulo_producto", "desc"\); pass --question-column/);
  } finally {
    cleanup();
  }
});

test("qa: malformed rows are errors naming file, line and field; --skip-bad records them", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, "mal.jsonl");
    writeTree(dir, {
      "mal.jsonl": [
        '{"preguntas": "¿Uno?", "respuestas": "Sí"}',
        '{"preguntas": "¿Dos?"}',
        '{"preguntas": "¿Tres?", "respuestas": 3}',
        '{"preguntas": "¿Cuatro?", "respuestas": "No"',
        '["no", "es", "objeto"]',
        '{"preguntas": "  ", "respuestas": "vacía"}',
        '{"preguntas": "¿Siete?", "respuestas": "Bien"}',
      ].join("\n"),
      "vacio.jsonl": "",
    });
    await assert.rejects(qaConverter.convert(f, opts()), (e: Error) => {
      assert.equal(e.message, `${f}:4: invalid JSON: ${jsonError('{"preguntas": "¿Cuatro?", "respuestas": "No"')}`);
      return true;
    });
    const issues = new RowIssues(true);
    const out = await qaConverter.convert(f, { issues });
    assert.deepEqual(out.map((o) => o.origin.line), [1, 7]);
    assert.deepEqual(
      issues.skipped.map((p) => [p.line, p.field, p.message]),
      [
        [4, undefined, `invalid JSON: ${jsonError('{"preguntas": "¿Cuatro?", "respuestas": "No"')}`],
        [2, "respuestas", "missing"],
        [3, "respuestas", "expected a string, found number"],
        [5, undefined, "expected a JSON object, found array"],
        [6, "preguntas", "empty"],
      ],
    );
    await assert.rejects(qaConverter.convert(join(dir, "vacio.jsonl"), opts()), /vacio\.jsonl: the file is empty/);
  } finally {
    cleanup();
  }
});

function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}
