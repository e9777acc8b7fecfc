// Chat on a LoadedModel: the conversation is rendered with the model's template, then generated as
// free text, as JSON constrained by a schema (response_format), or as a tool call forced by a grammar
// (tool_choice "required" or a named function). Free text is searched for tool calls when tools exist.
import type { LlamaGrammar } from "node-llama-cpp";
import type { ChatMessage, ToolCall, ToolSchema } from "../chat/types.js";
import { renderChatPrompt, toolCallFormat } from "./chat-prompt.js";
import { generateFromTokens, type GenerateOptions, type GenerateResult } from "./generate.js";
import { jsonObjectGrammar, jsonSchemaGrammar, toolCallSchema } from "./grammar.js";
import type { LoadedModel } from "./model.js";
import { newCallId, parseToolCalls } from "./tool-calls.js";
import { InputError } from "../util/errors.js";

/** Which tool the model must call: OpenAI's tool_choice. */
export type ToolChoice = "auto" | "none" | "required" | { name: string };

/** Options of {@link chat}. */
export interface ChatOptions extends Omit<GenerateOptions, "grammar"> {
  /** Tools the model may call. */
  tools?: readonly ToolSchema[];
  /** "auto" (default when tools exist): free text, calls parsed from it; "required"/{name}: one call forced by a grammar; "none": no tools. */
  toolChoice?: ToolChoice;
  /** Constrain the reply to JSON: "json_object" for any object, or a JSON schema. */
  responseFormat?: "json_object" | { schema: unknown };
}

/** Result of {@link chat}. */
export interface ChatResult extends GenerateResult {
  /** The assistant message (content and/or tool_calls), OpenAI shape. */
  message: ChatMessage & { role: "assistant" };
  /** "tool_calls" when the reply is a tool call, otherwise the generation's finish reason. */
  chatFinishReason: GenerateResult["finishReason"] | "tool_calls";
  /** The model tried to call a tool but the call did not parse. */
  invalidToolCall: boolean;
  /** The prompt text that was generated from (for debugging and reports). */
  prompt: string;
}

/** Generates the assistant's reply to a conversation. */
export async function chat(
  m: LoadedModel,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): Promise<ChatResult> {
  const { tools: toolsOption, toolChoice: choice, responseFormat, ...gen } = options;
  const toolChoice: ToolChoice = choice ?? "auto";
  const tools = toolChoice === "none" ? [] : [...(toolsOption ?? [])];
  let forcedTools: ToolSchema[] | undefined;
  if (toolChoice === "required") forcedTools = tools;
  else if (typeof toolChoice === "object") {
    forcedTools = tools.filter((t) => t.function.name === toolChoice.name);
    if (forcedTools.length === 0)
      throw new InputError(`tool_choice names "${toolChoice.name}", which is not among the tools`, {
        field: "tool_choice",
      });
  }
  if (forcedTools && forcedTools.length === 0)
    throw new InputError("tool_choice requires a tool but no tools were given", { field: "tools" });
  let prompt = renderChatPrompt(m.info, { messages, tools });
  let grammar: LlamaGrammar | undefined;
  let prefix = "";
  if (forcedTools) {
    const format = toolCallFormat(m.info);
    prefix = format.prefix;
    prompt += prefix;
    grammar = await jsonSchemaGrammar(m.llama, toolCallSchema(forcedTools, format));
  } else if (responseFormat === "json_object") grammar = await jsonObjectGrammar(m.llama);
  else if (responseFormat) grammar = await jsonSchemaGrammar(m.llama, responseFormat.schema);
  // Streaming only makes sense for plain text; tool calls are delivered whole.
  const streamText = tools.length === 0 && !forcedTools ? gen.onText : undefined;
  const result = await m.exclusive(() =>
    generateFromTokens(m, m.withBos(m.tokenize(prompt, true)), {
      ...gen,
      onText: streamText,
      ...(grammar ? { grammar } : {}),
    }),
  );
  let calls: ToolCall[] = [];
  let content: string | null = result.text;
  let invalid = false;
  if (forcedTools) {
    const parsed = parseToolCalls(result.text);
    calls = parsed.calls;
    invalid = calls.length === 0;
    content = calls.length ? null : result.text;
  } else if (tools.length > 0) {
    const parsed = parseToolCalls(result.text);
    calls = parsed.calls;
    invalid = parsed.invalid;
    if (calls.length) content = parsed.content || null;
    if (gen.onText && content) gen.onText(content);
  }
  calls = calls.map((c) => ({ ...c, id: c.id ?? newCallId() }));
  return {
    ...result,
    message: { role: "assistant", content, ...(calls.length ? { tool_calls: calls } : {}) },
    chatFinishReason: calls.length ? "tool_calls" : result.finishReason,
    invalidToolCall: invalid,
    prompt: prompt.slice(0, prompt.length - prefix.length),
  };
}
