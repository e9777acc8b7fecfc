// What the data layer needs from a model file: its tokenizer, its chat template as a render function,
// and its context length — read from the GGUF header (no weights are loaded).
import { renderChat } from "../chat/template.js";
import { openGguf } from "../gguf/index.js";
import { tokenizerFromGgufMetadata } from "../tokenizer/index.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { InputError } from "../util/errors.js";
import { toChatMessages, type ChatRecord } from "./record.js";
import { tokenizeRecord, type RenderFn } from "./tokenize.js";

/** Options of {@link chatRender}. */
export interface ChatRenderOptions {
  /** Text of the BOS token for `bos_token` (default ""). */
  bosToken?: string;
  /** Text of the EOS token for `eos_token` (default ""). */
  eosToken?: string;
  /** More template variables (e.g. `{enable_thinking: false}`). */
  extra?: Record<string, unknown>;
  /** Date for templates that print today's date (Llama 3.x); default: now, as transformers does. */
  now?: Date;
}

/** A {@link RenderFn} over lib/chat's renderChat for one template. */
export function chatRender(template: string, options: ChatRenderOptions = {}): RenderFn {
  return (messages, { addGenerationPrompt, tools }) =>
    renderChat(template, toChatMessages(messages), { addGenerationPrompt, tools, bosToken: options.bosToken, eosToken: options.eosToken, extra: options.extra, now: options.now });
}

/** A model's text side. */
export interface ModelText {
  tokenizer: Tokenizer;
  /** The model's chat template, if the file has one. */
  chatTemplate?: string;
  /** Render function of that template (undefined without a template). */
  render?: RenderFn;
  /** Training context length (`<arch>.context_length`), if present. */
  contextLength?: number;
}

/** Reads tokenizer, chat template and context length from a GGUF file. */
export function loadModelText(path: string): ModelText {
  const file = openGguf(path);
  try {
    const meta: Record<string, unknown> = {};
    for (const key of file.metadata.keys()) meta[key] = file.get(key);
    const tokenizer = tokenizerFromGgufMetadata(meta);
    const arch = meta["general.architecture"];
    const ctx = typeof arch === "string" ? meta[`${arch}.context_length`] : undefined;
    const chatTemplate = typeof meta["tokenizer.chat_template"] === "string" ? (meta["tokenizer.chat_template"] as string) : undefined;
    const text = (id: number | undefined) => (id === undefined ? "" : tokenizer.tokenText(id));
    return {
      tokenizer,
      chatTemplate,
      render: chatTemplate ? chatRender(chatTemplate, { bosToken: text(tokenizer.bos), eosToken: text(tokenizer.eos) }) : undefined,
      contextLength: typeof ctx === "number" ? ctx : typeof ctx === "bigint" ? Number(ctx) : undefined,
    };
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read the model's tokenizer: ${(err as Error).message}`, { file: path });
  } finally {
    file.close();
  }
}

/**
 * Token length of a record for reports and `data verify`: the full tokenization with the model's
 * template (or plain text joined by newlines when the model has none).
 */
export function recordTokenCounter(model: ModelText): (r: ChatRecord) => number {
  const render: RenderFn =
    model.render ?? ((messages) => messages.map((m) => (typeof m.content === "string" ? m.content : "")).join("\n"));
  return (r) => {
    // trainOn "all": the length does not depend on the mask, so skip the prefix renders.
    const t = tokenizeRecord(r, { tokenizer: model.tokenizer, render, trainOn: "all" });
    return "dropped" in t ? t.length : t.ids.length;
  };
}
