// Training rows from a prepared dataset: messages JSONL rendered with the model's own chat template
// (loss on assistant turns by default) or {"text"} JSONL for continued pretraining, packed into rows of
// maxSeq tokens with per-record segments and positions.
import { readRows } from "../data/read/rows.js";
import { chatRender } from "../data/model-text.js";
import { FALLBACK_CHAT_TEMPLATE } from "../chat/template.js";
import { tokenizeRecord, packRecords, type PackedRow } from "../data/tokenize.js";
import type { ChatRecord } from "../data/record.js";
import { InputError } from "../util/errors.js";
import type { Model } from "../models/model.js";


export interface TrainRows {
  rows: PackedRow[];
  records: number;
  /** Records dropped (too long for maxSeq with the chosen truncation, or nothing to learn). */
  dropped: number;
  /** Target tokens over all rows. */
  targets: number;
}

export async function loadTrainRows(
  path: string,
  model: Model,
  o: { maxSeq: number; packing: boolean; trainOn: "assistant" | "all" },
): Promise<TrainRows> {
  const source = await readRows(path, { extensions: [".jsonl", ".json"] });
  if (source.length === 0) throw new InputError("no records", { file: path });
  const tok = model.tokenizer;
  const render = chatRender(model.chatTemplate ?? FALLBACK_CHAT_TEMPLATE, {
    bosToken: tok.bos !== undefined ? tok.tokenText(tok.bos) : "",
    eosToken: tok.eos !== undefined ? tok.tokenText(tok.eos) : "",
  });
  const tokenized: Array<{ ids: number[]; mask: Array<0 | 1> }> = [];
  let dropped = 0;
  for (const row of source) {
    const v = row.value as Record<string, unknown>;
    const where = { file: row.file, line: row.line };
    if (typeof v !== "object" || v === null) throw new InputError("a record must be a JSON object", where);
    if (typeof v.text === "string") {
      // continued pretraining: BOS + text + EOS, cut into windows of maxSeq tokens, every token a target
      const ids = [
        ...(tok.bos !== undefined && tok.addBos ? [tok.bos] : []),
        ...tok.encode(v.text),
        ...(tok.eos !== undefined ? [tok.eos] : []),
      ];
      for (let i = 0; i < ids.length; i += o.maxSeq) {
        const chunk = ids.slice(i, i + o.maxSeq);
        if (chunk.length > 1) tokenized.push({ ids: chunk, mask: chunk.map((_, j) => (j === 0 ? 0 : 1)) });
      }
      continue;
    }
    if (!Array.isArray(v.messages))
      throw new InputError('expected "messages" (prepared chat data) or "text"', {
        ...where,
        field: "messages",
      });
    const r = tokenizeRecord(v as unknown as ChatRecord, {
      tokenizer: tok,
      render,
      trainOn: o.trainOn,
      maxSeq: o.maxSeq,
      truncation: "turns",
    });
    if (!("ids" in r) || !r.mask.some((m) => m === 1)) {
      dropped++;
      continue;
    }
    tokenized.push({ ids: r.ids, mask: r.mask });
  }
  if (tokenized.length === 0) throw new InputError("no record has anything to train on", { file: path });
  const rows = packRecords(tokenized, { seqLen: o.maxSeq, padId: tok.pad ?? tok.eos ?? 0, pack: o.packing });
  const targets = rows.reduce((s, r) => s + countTargets(r), 0);
  return { rows, records: tokenized.length, dropped, targets };
}

/** Targets of a row: position t predicts ids[t+1] when that token is trained and in the same record. */
export function countTargets(r: PackedRow): number {
  let n = 0;
  for (let t = 0; t + 1 < r.ids.length; t++)
    if (r.mask[t + 1] === 1 && r.segments[t + 1] === r.segments[t] && r.segments[t] !== 0) n++;
  return n;
}
