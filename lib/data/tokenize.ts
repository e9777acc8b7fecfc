// Records → token ids and a loss mask for training.
//
// Mask semantics: mask[i] = 1 means ids[i] is a training target (the loss includes −log p(ids[i] | ids[<i])).
// By default only assistant turns are targets — their text, their tool calls and the template's
// end-of-turn marker — and never the prompt, the system message or tool results.
//
// How assistant turns are found, robustly for any Jinja template: the conversation is rendered prefix
// by prefix. For assistant message i, `before` = render(messages[<i], add_generation_prompt) and
// `upto` = render(messages[≤i]). The ids are always the tokenization of the WHOLE rendered text —
// exactly what the model sees at inference, never a concatenation of separately tokenized pieces.
// The turn starts at the first token where tokenize(before) and the whole-text ids differ, and ends
// where tokenize(upto) and the whole-text ids stop agreeing. Comparing tokens (not characters) also
// handles templates that render a turn differently once later turns exist (Qwen3 dropping old
// reasoning) or that append EOS after the last message only: the differing token is the boundary.
// When a token straddles a boundary (the tokenizer merged across it), that token is counted as
// trained — every token holding an assistant character is a target — and `inexactBoundaries` says
// how often that happened (0 for real chat vocabularies, whose turn markers are special tokens).
//
// Truncation to maxSeq never cuts inside a trained span silently. Policies:
//   "turns" (default): cut after the last assistant turn that ends within maxSeq (later turns are
//                      dropped whole); a record whose first assistant turn does not fit is dropped.
//   "drop":            drop every record longer than maxSeq.
//   "error":           throw.
// Raw-text records (`text`, all tokens trained) are cut at maxSeq and say how many tokens were cut.
import type { ToolSchema } from "../chat/types.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { TunekitError } from "../util/errors.js";
import type { ChatRecord, RecordMessage } from "./record.js";

/** Renders messages with a chat template (e.g. lib/chat/template.ts's renderChat bound to a template). */
export type RenderFn = (messages: RecordMessage[], options: { addGenerationPrompt: boolean; tools?: ToolSchema[] }) => string;

/** Options of {@link tokenizeRecord}. */
export interface TokenizeOptions {
  /** The model's tokenizer. */
  tokenizer: Tokenizer;
  /** The model's chat template as a render function. */
  render: RenderFn;
  /** "assistant" (default): loss on assistant turns only; "all": on every token after the first. */
  trainOn?: "assistant" | "all";
  /** Longest sequence in tokens; longer records are truncated per `truncation`. */
  maxSeq?: number;
  /** What to do with records longer than maxSeq (default "turns"; see the file comment). */
  truncation?: "turns" | "drop" | "error";
}

/** A tokenized record. */
export interface TokenizedRecord {
  /** Token ids of the rendered conversation (BOS included when the model wants it). */
  ids: number[];
  /** 1 where ids[i] is a training target, else 0. Same length as ids. */
  mask: Array<0 | 1>;
  /** Character spans [start, end) of the rendered text that are trained. */
  spans: Array<[number, number]>;
  /** The rendered text. */
  text: string;
  /** Span boundaries that fell inside a token (that token was counted as trained). */
  inexactBoundaries: number;
  /** Tokens cut by truncation (0 when none). */
  truncatedTokens: number;
}

/** Why a record yields no tokenized row. */
export interface DroppedRecord {
  dropped: true;
  reason: string;
  /** Token length before truncation. */
  length: number;
}

/** Tokenizes one record; returns a {@link DroppedRecord} when truncation policy drops it. */
export function tokenizeRecord(record: ChatRecord, options: TokenizeOptions): TokenizedRecord | DroppedRecord {
  const { tokenizer } = options;
  const isText = record.text !== undefined && record.messages.length === 0;
  const text = isText ? record.text! : options.render(record.messages, { addGenerationPrompt: false, tools: record.tools });
  const encode = (t: string) => tokenizer.encode(t, { parseSpecial: !isText, addBos: false });
  let ids = encode(text);
  let offset = 0;
  if (tokenizer.addBos && tokenizer.bos !== undefined && ids[0] !== tokenizer.bos) {
    ids = [tokenizer.bos, ...ids];
    offset = 1;
  }
  const body = ids.slice(offset);
  if (isText && tokenizer.eos !== undefined) ids.push(tokenizer.eos);

  // Token spans [a, b) of the trained parts, in `ids` coordinates.
  let inexact = 0;
  let spans: Array<[number, number]>;
  const tokenSpans: Array<[number, number]> = [];
  if (isText || options.trainOn === "all") {
    spans = [[0, text.length]];
    tokenSpans.push([0, ids.length]);
  } else {
    const turns = assistantTurns(record, text, options.render);
    spans = turns.map((t) => t.span);
    const tokenLcp = (t: string) => {
      const pre = encode(t);
      let l = 0;
      while (l < pre.length && l < body.length && pre[l] === body[l]) l++;
      return { l, complete: l === pre.length };
    };
    const marker = endOfTurnText(tokenizer);
    turns.forEach((t, k) => {
      // Start: the first token where the prompt's tokens and the whole text's differ. A token that
      // straddles the boundary differs, so it is included.
      const a = tokenLcp(t.before);
      if (!a.complete && text.startsWith(t.before)) inexact++;
      // End: where the tokens of the conversation up to this turn stop matching the whole text's.
      // When the template renders a turn differently once it is no longer the last one (Qwen3 drops
      // reasoning, some templates append EOS after the last message only), the conversation up to this
      // turn is not a prefix of the whole text: the turn then ends at the first end-of-turn marker
      // after it (before the next assistant turn), else where the tokens stop agreeing.
      let endText = t.upto;
      if (!text.startsWith(t.upto) && marker) {
        const at = text.indexOf(marker, t.span[0]);
        const limit = turns[k + 1]?.span[0] ?? text.length;
        if (at >= 0 && at + marker.length <= limit) endText = text.slice(0, at + marker.length);
      }
      const b = tokenLcp(endText);
      let end = b.l;
      if (!b.complete && text.startsWith(endText)) {
        end = Math.min(b.l + 1, body.length);
        inexact++;
      }
      if (end <= a.l) throw new TunekitError(`the chat template renders nothing for assistant turn ${k + 1} (message ${t.index})`);
      const last = tokenSpans[tokenSpans.length - 1];
      if (last && a.l + offset <= last[1]) last[1] = Math.max(last[1], end + offset);
      else tokenSpans.push([a.l + offset, end + offset]);
    });
  }
  const mask = new Array<0 | 1>(ids.length).fill(0);
  for (const [a, b] of tokenSpans) for (let i = a; i < b; i++) mask[i] = 1;
  mask[0] = 0; // the first token has no context to be predicted from

  const maxSeq = options.maxSeq;
  if (maxSeq === undefined || ids.length <= maxSeq) return { ids, mask, spans, text, inexactBoundaries: inexact, truncatedTokens: 0 };
  const policy = options.truncation ?? "turns";
  const length = ids.length;
  if (policy === "error") throw new TunekitError(`record has ${length} tokens, more than --max-seq ${maxSeq}`);
  if (policy === "drop") return { dropped: true, reason: `longer than max-seq (${length} > ${maxSeq} tokens)`, length };
  let cut = maxSeq;
  if (!isText && options.trainOn !== "all") {
    const fitting = tokenSpans.filter(([, b]) => b <= maxSeq);
    if (fitting.length === 0) return { dropped: true, reason: `first assistant turn ends after max-seq (${length} > ${maxSeq} tokens)`, length };
    cut = fitting[fitting.length - 1]![1];
  }
  return { ids: ids.slice(0, cut), mask: mask.slice(0, cut), spans, text, inexactBoundaries: inexact, truncatedTokens: length - cut };
}

/** One assistant turn as found by prefix rendering. */
export interface AssistantTurn {
  /** Index of the message in the record. */
  index: number;
  /** render(messages[<index]) with the generation prompt. */
  before: string;
  /** render(messages[≤index]). */
  upto: string;
  /** Characters [start, end) of the full render where the two agree with it (the turn, by characters). */
  span: [number, number];
}

/** Text of the tokenizer's end-of-turn token (EOT, else EOS), used when a template re-renders turns. */
function endOfTurnText(tokenizer: Tokenizer): string | undefined {
  const id = tokenizer.eot ?? tokenizer.eos;
  const t = id === undefined ? "" : tokenizer.tokenText(id);
  return t === "" ? undefined : t;
}

/** The assistant turns of a record and their character spans in the full render `full` (see the file comment). */
export function assistantTurns(record: ChatRecord, full: string, render: RenderFn): AssistantTurn[] {
  const lcp = (s: string) => {
    let i = 0;
    const n = Math.min(s.length, full.length);
    while (i < n && s.charCodeAt(i) === full.charCodeAt(i)) i++;
    return i;
  };
  const turns: AssistantTurn[] = [];
  record.messages.forEach((m, i) => {
    if (m.role !== "assistant") return;
    const before = render(record.messages.slice(0, i), { addGenerationPrompt: true, tools: record.tools });
    const upto = render(record.messages.slice(0, i + 1), { addGenerationPrompt: false, tools: record.tools });
    turns.push({ index: i, before, upto, span: [lcp(before), lcp(upto)] });
  });
  return turns;
}

/** A fixed-length training row holding one or more records. */
export interface PackedRow {
  /** Token ids, padded to the row length. */
  ids: number[];
  /** Training targets (0 on padding). */
  mask: Array<0 | 1>;
  /** Which record each token belongs to: 1, 2, … in the row, 0 on padding. Attention stays within a segment. */
  segments: number[];
  /** Position of each token within its own record (restarts at 0 for every segment; 0 on padding). */
  positions: number[];
}

/** Options of {@link packRecords}. */
export interface PackOptions {
  /** Row length in tokens. */
  seqLen: number;
  /** Id written into padding (its mask is 0). */
  padId: number;
  /** Put several records in one row (default true); false gives one padded row per record. */
  pack?: boolean;
}

/**
 * Packs tokenized records into rows of `seqLen` tokens, first-fit in the given order (deterministic),
 * with per-record segment ids and positions so attention can be kept within each record.
 */
export function packRecords(records: ReadonlyArray<Pick<TokenizedRecord, "ids" | "mask">>, options: PackOptions): PackedRow[] {
  const { seqLen, padId } = options;
  const rows: Array<{ items: Array<Pick<TokenizedRecord, "ids" | "mask">>; used: number }> = [];
  for (const r of records) {
    if (r.ids.length > seqLen) throw new TunekitError(`a record of ${r.ids.length} tokens does not fit rows of ${seqLen}; truncate first`);
    if (r.ids.length === 0) continue;
    const row = options.pack === false ? undefined : rows.find((x) => x.used + r.ids.length <= seqLen);
    if (row) {
      row.items.push(r);
      row.used += r.ids.length;
    } else rows.push({ items: [r], used: r.ids.length });
  }
  return rows.map(({ items }) => {
    const out: PackedRow = { ids: [], mask: [], segments: [], positions: [] };
    items.forEach((r, k) => {
      out.ids.push(...r.ids);
      out.mask.push(...r.mask);
      for (let i = 0; i < r.ids.length; i++) {
        out.segments.push(k + 1);
        out.positions.push(i);
      }
    });
    while (out.ids.length < seqLen) {
      out.ids.push(padId);
      out.mask.push(0);
      out.segments.push(0);
      out.positions.push(0);
    }
    return out;
  });
}

/** Result of {@link tokenizeDataset}. */
export interface TokenizedDataset {
  /** Records that survived truncation, in input order. */
  records: TokenizedRecord[];
  /** Records left out by the truncation policy: index in the input, reason, length before truncation. */
  dropped: Array<{ index: number; reason: string; length: number }>;
  /** Records shortened by the "turns" policy. */
  truncated: number;
  /** Sum of inexact boundaries (tokens merged across a turn boundary). */
  inexactBoundaries: number;
  /** Tokens in the kept records, and how many of them are training targets. */
  tokens: number;
  trainedTokens: number;
}

/** Tokenizes many records with one set of options and sums what happened (for reports and the trainer). */
export function tokenizeDataset(records: readonly ChatRecord[], options: TokenizeOptions): TokenizedDataset {
  const out: TokenizedDataset = { records: [], dropped: [], truncated: 0, inexactBoundaries: 0, tokens: 0, trainedTokens: 0 };
  records.forEach((r, index) => {
    const t = tokenizeRecord(r, options);
    if ("dropped" in t) {
      out.dropped.push({ index, reason: t.reason, length: t.length });
      return;
    }
    out.records.push(t);
    if (t.truncatedTokens) out.truncated++;
    out.inexactBoundaries += t.inexactBoundaries;
    out.tokens += t.ids.length;
    out.trainedTokens += t.mask.reduce<number>((n, m) => n + m, 0);
  });
  return out;
}
