// Chat prompts rendered with the model's own Jinja chat template (tokenizer.chat_template in the GGUF)
// through lib/chat's renderChat, the same renderer the training data goes through. Models without a
// template get ChatML. Templates that do not know about tools get the tool list as a system message.
import { FALLBACK_CHAT_TEMPLATE, renderChat } from "../chat/template.js";
import type { ChatMessage, ToolSchema } from "../chat/types.js";
import { InputError } from "../util/errors.js";


/** What the renderer needs to know about the model. */
export interface TemplateSource {
  /** The Jinja chat template; the ChatML fallback when absent. */
  chatTemplate?: string;
  /** BOS/EOS token text passed to the template as bos_token / eos_token. */
  bosText: string;
  eosText: string;
}

/** Options of {@link renderChatPrompt}. */
export interface RenderChatOptions {
  /** Conversation in the OpenAI shape. */
  messages: readonly ChatMessage[];
  /** Tools the model may call. */
  tools?: readonly ToolSchema[];
  /** End with the assistant turn header so the model writes the reply. Default true. */
  addGenerationPrompt?: boolean;
}

/** How a template writes an assistant tool call, found by rendering a probe call. */
export interface ToolCallFormat {
  /** Text the template puts before the JSON object of a call (e.g. "<tool_call>\n"), often "". */
  prefix: string;
  /** Key of the arguments object: "arguments" (most templates) or "parameters" (Llama 3.1). */
  argumentsKey: "arguments" | "parameters";
}

function rejectImages(messages: readonly ChatMessage[]): void {
  messages.forEach((m, i) => {
    if (Array.isArray(m.content) && m.content.some((p) => p.type !== "text"))
      throw new InputError("image content cannot be evaluated with llama.cpp here (text-only inference)", {
        field: `messages[${i}].content`,
      });
  });
}

/** Whether a template reads the `tools` variable itself. */
export function templateSupportsTools(source: TemplateSource): boolean {
  return !!source.chatTemplate && /\btools\b/.test(source.chatTemplate);
}

/** The system text that describes tools to a model whose template does not. */
export function toolSystemText(tools: readonly ToolSchema[]): string {
  return (
    "You can call the following tools. To call a tool, answer only with a JSON object " +
    '{"name": <tool name>, "arguments": <arguments object>}.\n' +
    `Tools: ${JSON.stringify(tools.map((t) => t.function))}`
  );
}

/** Renders a conversation into the prompt text the model was trained on (lib/chat's renderChat). */
export function renderChatPrompt(source: TemplateSource, options: RenderChatOptions): string {
  rejectImages(options.messages);
  let messages = [...options.messages];
  const tools = options.tools?.length ? [...options.tools] : undefined;
  const native = templateSupportsTools(source);
  if (tools && !native) {
    const text = toolSystemText(tools);
    const first = messages[0];
    messages =
      first?.role === "system"
        ? [
            { ...first, content: `${typeof first.content === "string" ? first.content : ""}\n\n${text}` },
            ...messages.slice(1),
          ]
        : [{ role: "system", content: text }, ...messages];
  }
  return renderChat(source.chatTemplate ?? FALLBACK_CHAT_TEMPLATE, messages, {
    ...(tools && native ? { tools } : {}),
    addGenerationPrompt: options.addGenerationPrompt ?? true,
    bosToken: source.bosText,
    eosToken: source.eosText,
  });
}

const formats = new Map<string, ToolCallFormat>();

/**
 * Finds how the template writes an assistant tool call by rendering one probe call and looking at
 * what precedes its JSON. Falls back to a bare `{"name", "arguments"}` object.
 */
export function toolCallFormat(source: TemplateSource): ToolCallFormat {
  const key = source.chatTemplate ?? "";
  const cached = formats.get(key);
  if (cached) return cached;
  let format: ToolCallFormat = { prefix: "", argumentsKey: "arguments" };
  if (templateSupportsTools(source)) {
    try {
      const tools: ToolSchema[] = [
        { type: "function", function: { name: "probe_tool", parameters: { type: "object" } } },
      ];
      const user: ChatMessage = { role: "user", content: "probe" };
      const head = renderChatPrompt(source, { messages: [user], tools, addGenerationPrompt: true });
      const full = renderChatPrompt(source, {
        messages: [
          user,
          {
            role: "assistant",
            content: "",
            tool_calls: [{ type: "function", function: { name: "probe_tool", arguments: { probe_arg: 1 } } }],
          },
        ],
        tools,
        addGenerationPrompt: false,
      });
      if (full.startsWith(head)) {
        const tail = full.slice(head.length);
        const at = tail.indexOf('"probe_tool"');
        const brace = at >= 0 ? tail.lastIndexOf("{", at) : -1;
        if (brace >= 0)
          format = {
            prefix: tail.slice(0, brace),
            argumentsKey: /"parameters"\s*:/.test(tail.slice(brace)) ? "parameters" : "arguments",
          };
      }
    } catch {
      // A template that cannot render a probe call keeps the bare JSON format.
    }
  }
  formats.set(key, format);
  return format;
}
