// instruction: Alpaca-style rows `instruction`, optional `input`, `output` (Gemergency's
// emergency_dataset.jsonl, identity.json); optional `system` and `history` ([[user, assistant], …])
// as LLaMA-Factory writes them.
import { InputError } from "../../util/errors.js";
import { readRows, type SourceRow } from "../read/rows.js";
import { withSystem, type RecordMessage } from "../record.js";
import { optionalString, requireString, rowObject, typeName } from "./fields.js";
import type { ConvertOptions, ConvertedRecord, Converter } from "./types.js";

/** Converts instruction rows; `input` is appended to the instruction after a blank line. */
export function convertInstructionRows(rows: SourceRow[], options: ConvertOptions): ConvertedRecord[] {
  const out: ConvertedRecord[] = [];
  for (const row of rows) {
    const messages = options.issues.row(() => {
      const obj = rowObject(row);
      const instruction = requireString(obj, "instruction", row);
      const input = optionalString(obj, "input", row);
      const output = requireString(obj, "output", row);
      const system = optionalString(obj, "system", row) || options.system;
      const history: RecordMessage[] = [];
      if (obj.history !== undefined && obj.history !== null) {
        const where = { file: row.file, line: row.line, field: "history" };
        if (!Array.isArray(obj.history)) throw new InputError(`expected an array of [user, assistant] pairs, found ${typeName(obj.history)}`, where);
        for (const pair of obj.history) {
          if (!Array.isArray(pair) || pair.length !== 2 || pair.some((s) => typeof s !== "string"))
            throw new InputError("each entry must be a [user, assistant] pair of strings", where);
          history.push({ role: "user", content: pair[0] as string }, { role: "assistant", content: pair[1] as string });
        }
      }
      const user = input && input.trim() !== "" ? `${instruction}\n\n${input}` : instruction;
      return withSystem([...history, { role: "user", content: user }, { role: "assistant", content: output }], system);
    });
    if (messages) out.push({ record: { messages }, origin: { file: row.file, line: row.line } });
  }
  return out;
}

export const instructionConverter: Converter = {
  name: "instruction",
  description: "instruction / optional input / output rows (Alpaca style)",
  async convert(input, options) {
    return convertInstructionRows(await readRows(input, { issues: options.issues }), options);
  },
};
