// The loss-mask view of 02-text: one record rendered with the base model's chat template (or the
// trainer's fallback template when the GGUF has none — the same text the trainer sees), tokenized with
// the model's tokenizer, and shown token by token with the trained tokens highlighted.
import { chatRender, loadModelText, type ModelText } from "../data/model-text.js";
import { maskHtml } from "../data/plots.js";
import type { ChatRecord } from "../data/record.js";
import { tokenizeRecord, type RenderFn } from "../data/tokenize.js";
import { FALLBACK_CHAT_TEMPLATE } from "../chat/template.js";
import { TunekitError } from "../util/errors.js";

/** A model's text side with the render function the trainer uses for it. */
export interface TrainingText {
  model: ModelText;
  /** The chat template training renders with (the model's own, else the trainer's fallback). */
  template: string;
  /** True when the GGUF has no chat template and the fallback is used. */
  fallbackTemplate: boolean;
  render: RenderFn;
}

/** Reads the tokenizer and chat template of a GGUF (header only) as training uses them. */
export function trainingText(modelPath: string): TrainingText {
  const model = loadModelText(modelPath);
  const tok = model.tokenizer;
  const template = model.chatTemplate ?? FALLBACK_CHAT_TEMPLATE;
  const render = chatRender(template, {
    bosToken: tok.bos !== undefined ? tok.tokenText(tok.bos) : "",
    eosToken: tok.eos !== undefined ? tok.tokenText(tok.eos) : "",
  });
  return { model, template, fallbackTemplate: model.chatTemplate === undefined, render };
}

/** The mask view of one record. */
export interface MaskView {
  /** HTML with trained tokens highlighted. */
  html: string;
  /** Tokens in the rendered record. */
  tokens: number;
  /** Tokens the loss is computed on. */
  trainedTokens: number;
  /** The rendered text. */
  text: string;
}

/** Tokenizes `record` as training does (loss on assistant turns) and renders the mask as HTML. */
export function maskView(record: ChatRecord, text: TrainingText, maxSeq?: number): MaskView {
  const t = tokenizeRecord(record, {
    tokenizer: text.model.tokenizer,
    render: text.render,
    trainOn: "assistant",
    ...(maxSeq ? { maxSeq, truncation: "turns" as const } : {}),
  });
  if ("dropped" in t) throw new TunekitError(`the record is dropped by training: ${t.reason}`);
  const tok = text.model.tokenizer;
  const pieces = t.ids.map((id) => tok.decode([id], { renderSpecial: true }));
  return {
    html: maskHtml(pieces, t.mask),
    tokens: t.ids.length,
    trainedTokens: t.mask.reduce<number>((s, m) => s + m, 0),
    text: t.text,
  };
}
