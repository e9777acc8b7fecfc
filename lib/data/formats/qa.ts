// qa: question/answer pairs in any table (JSON, JSONL, CSV, Parquet) with auto-detected or given
// column names — e.g. CaficulBot's `preguntas`/`respuestas` (sergioq2/coffe).
import { InputError } from "../../util/errors.js";
import { readRows, type SourceRow } from "../read/rows.js";
import { withSystem } from "../record.js";
import { findKey, requireString, rowObject } from "./fields.js";
import type { ConvertOptions, ConvertedRecord, Converter } from "./types.js";

/** Column names recognised as the question, most specific first (compared lower-cased). */
export const QUESTION_COLUMNS = ["question", "questions", "pregunta", "preguntas", "prompt", "query", "input", "q", "title", "titulo", "título"];
/** Column names recognised as the answer. */
export const ANSWER_COLUMNS = ["answer", "answers", "respuesta", "respuestas", "completion", "response", "output", "a", "content", "description", "descripcion", "descripción"];

/** Converts question/answer rows into user → assistant records. */
export function convertQaRows(rows: SourceRow[], options: ConvertOptions): ConvertedRecord[] {
  const out: ConvertedRecord[] = [];
  const columnsByFile = new Map<string, { q: string; a: string }>();
  for (const row of rows) {
    const rec = options.issues.row(() => {
      const obj = rowObject(row);
      let cols = columnsByFile.get(row.file);
      if (!cols) {
        cols = detectColumns(Object.keys(obj), options, row);
        columnsByFile.set(row.file, cols);
      }
      const question = requireString(obj, cols.q, row);
      const answer = requireString(obj, cols.a, row);
      return withSystem(
        [
          { role: "user", content: question },
          { role: "assistant", content: answer },
        ],
        options.system,
      );
    });
    if (rec) out.push({ record: { messages: rec }, origin: { file: row.file, line: row.line } });
  }
  return out;
}

function detectColumns(keys: string[], options: ConvertOptions, row: SourceRow): { q: string; a: string } {
  const q = options.questionColumn ?? findKey(keys, QUESTION_COLUMNS);
  const a = options.answerColumn ?? findKey(keys.filter((k) => k !== q), ANSWER_COLUMNS);
  const where = { file: row.file, line: row.line };
  const have = `columns are: ${keys.map((k) => JSON.stringify(k)).join(", ")}`;
  if (!q) throw new InputError(`cannot tell which column holds the question (${have}); pass --question-column`, where);
  if (!a) throw new InputError(`cannot tell which column holds the answer (${have}); pass --answer-column`, where);
  return { q, a };
}

export const qaConverter: Converter = {
  name: "qa",
  description: "question/answer pairs (columns auto-detected: question/answer, prompt/completion, preguntas/respuestas…)",
  async convert(input, options) {
    return convertQaRows(await readRows(input, { issues: options.issues }), options);
  },
};
