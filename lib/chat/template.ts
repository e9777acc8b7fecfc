// Chat templates: a model's own Jinja template (tokenizer.chat_template / tokenizer_config.json) rendered
// with @huggingface/jinja, with the variables and helpers Hugging Face transformers' apply_chat_template
// provides, and the OpenAI-shaped messages normalised the way templates expect them.
import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { TunekitError } from "../util/errors.js";
import type { ChatMessage, ContentPart, ToolCall, ToolSchema } from "./types.js";

/** Options of {@link renderChat}. */
export interface RenderChatOptions {
  /** Tool schemas offered to the model (OpenAI `tools`); templates see `tools = none` when absent. */
  tools?: ToolSchema[];
  /** Append the header that starts the assistant's reply (e.g. "<|im_start|>assistant\n"). Default false. */
  addGenerationPrompt?: boolean;
  /** Text of the BOS token, as templates use `bos_token`. Default "". */
  bosToken?: string;
  /** Text of the EOS token, as templates use `eos_token`. Default "". */
  eosToken?: string;
  /**
   * How tool-call arguments reach the template: "object" (default; a JSON string is parsed, as vLLM and
   * llama.cpp's server do, since most templates apply `| tojson` to it) or "string" (an object is
   * serialised with JSON.stringify).
   */
  toolArguments?: "object" | "string";
  /** The date `strftime_now` formats (Llama 3.x templates print today's date). Default: the current time. */
  now?: Date;
  /** More template variables (e.g. `enable_thinking`, `date_string`, `documents`, `custom_tools`). */
  extra?: Record<string, unknown>;
}

/** A chat template's own error (`raise_exception(...)` in the template), or a render failure. */
export class ChatTemplateError extends TunekitError {
  override name = "ChatTemplateError";
}

const compiled = new Map<string, Template>();

/** Parsed template, cached (parsing is much slower than rendering). */
function compile(template: string): Template {
  let t = compiled.get(template);
  if (!t) {
    try {
      t = new Template(template);
    } catch (err) {
      throw new ChatTemplateError(`chat template does not parse: ${(err as Error).message}`);
    }
    if (compiled.size > 64) compiled.delete(compiled.keys().next().value!);
    compiled.set(template, t);
  }
  return t;
}

/** A template-facing content part: OpenAI image_url parts become Hugging Face's {type: "image"}. */
function templatePart(p: ContentPart): Record<string, unknown> {
  if (p.type === "text") return { type: "text", text: p.text };
  return { type: "image", url: p.image_url.url, image_url: p.image_url };
}

/**
 * Message content as templates expect it: a plain string when the content is text only (text parts
 * joined with "\n", as vLLM does for string-content templates; null/absent becomes ""), else the list of
 * parts in Hugging Face's shape (for multimodal templates such as Gemma 3's).
 */
function templateContent(content: ChatMessage["content"]): string | Record<string, unknown>[] {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (content.every((p) => p.type === "text"))
    return content.map((p) => (p as { text: string }).text).join("\n");
  return content.map(templatePart);
}

function templateToolCall(call: ToolCall, mode: "object" | "string", where: string): Record<string, unknown> {
  let args = call.function.arguments;
  if (mode === "object" && typeof args === "string") {
    const text = args;
    try {
      const parsed: unknown = text.trim() === "" ? {} : JSON.parse(text);
      if (parsed !== null && typeof parsed === "object") args = parsed as Record<string, unknown>;
    } catch {
      throw new ChatTemplateError(`${where}: tool call arguments are not valid JSON: ${text.slice(0, 80)}`);
    }
  } else if (mode === "string" && typeof args !== "string") {
    args = JSON.stringify(args);
  }
  return {
    ...(call.id !== undefined ? { id: call.id } : {}),
    type: call.type ?? "function",
    function: { name: call.function.name, arguments: args },
  };
}

/** Messages in the form chat templates read. */
export function templateMessages(
  messages: readonly ChatMessage[],
  toolArguments: "object" | "string" = "object",
): Record<string, unknown>[] {
  return messages.map((m, i) => {
    const out: Record<string, unknown> = { role: m.role, content: templateContent(m.content) };
    if (m.tool_calls && m.tool_calls.length > 0) {
      out.tool_calls = m.tool_calls.map((c) => templateToolCall(c, toolArguments, `messages[${i}]`));
    }
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    if (m.name !== undefined) out.name = m.name;
    if (m.reasoning_content !== undefined) out.reasoning_content = m.reasoning_content;
    return out;
  });
}

/** strftime for the format directives chat templates use (%d %b %B %Y %m %H %M %S %y %A %a %j %p %%). */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const months = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
  ];
  const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  const startOfYear = new Date(date.getFullYear(), 0, 1);
  const dayOfYear = Math.floor((date.getTime() - startOfYear.getTime()) / 86400000) + 1;
  const map: Record<string, string> = {
    d: pad(date.getDate()),
    m: pad(date.getMonth() + 1),
    Y: String(date.getFullYear()),
    y: pad(date.getFullYear() % 100),
    b: months[date.getMonth()].slice(0, 3),
    B: months[date.getMonth()],
    a: days[date.getDay()].slice(0, 3),
    A: days[date.getDay()],
    H: pad(date.getHours()),
    I: pad(((date.getHours() + 11) % 12) + 1),
    M: pad(date.getMinutes()),
    S: pad(date.getSeconds()),
    p: date.getHours() < 12 ? "AM" : "PM",
    j: pad(dayOfYear, 3),
    "%": "%",
  };
  return format.replace(/%([a-zA-Z%])/g, (whole, c: string) => map[c] ?? whole);
}

/** Python's range() (jinja's global). */
function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() step must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/**
 * Render a conversation with a model's chat template, as Hugging Face transformers' apply_chat_template
 * does: variables `messages`, `tools`, `documents`, `add_generation_prompt`, `bos_token`, `eos_token`, the
 * helpers `raise_exception` and `strftime_now` (plus @huggingface/jinja's built-ins: `range`, `namespace`,
 * filters like `tojson`), and `opts.extra`. A template's raise_exception(...) and render failures throw a
 * ChatTemplateError carrying the template's message.
 */
export function renderChat(
  template: string,
  messages: readonly ChatMessage[],
  opts: RenderChatOptions = {},
): string {
  const t = compile(template);
  const now = opts.now;
  const context: Record<string, unknown> = {
    messages: templateMessages(messages, opts.toolArguments ?? "object"),
    tools: opts.tools && opts.tools.length > 0 ? opts.tools : null,
    documents: null,
    add_generation_prompt: opts.addGenerationPrompt ?? false,
    bos_token: opts.bosToken ?? "",
    eos_token: opts.eosToken ?? "",
    raise_exception: (message: unknown) => {
      throw new ChatTemplateError(`chat template raised: ${String(message)}`);
    },
    strftime_now: (format: unknown) => strftime(now ?? new Date(), String(format)),
    ...opts.extra,
  };
  try {
    // Template.render() declares raise_exception/strftime_now itself and refuses redefinitions, so the
    // environment is built here with the same globals.
    const env = new Environment();
    const globals: Record<string, unknown> = {
      false: false,
      true: true,
      none: null,
      False: false,
      True: true,
      None: null,
      range,
    };
    for (const [k, v] of Object.entries({ ...globals, ...context })) env.set(k, v);
    return new Interpreter(env).run(t.parsed).value as string;
  } catch (err) {
    if (err instanceof ChatTemplateError) throw err;
    throw new ChatTemplateError(`chat template failed to render: ${(err as Error).message}`);
  }
}

/** ChatML: the template used everywhere (training, evaluation, serving) when a model file carries none. */
export const FALLBACK_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
