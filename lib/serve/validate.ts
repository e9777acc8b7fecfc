// Validation of OpenAI-style request bodies: every problem becomes a 400 naming the field, before any
// work is queued. Unknown fields are ignored (clients send many); unsupported features are refused.
import type { ChatMessage, ToolCall, ToolSchema } from "../chat/types.js";
import type { ToolChoice } from "../infer/chat.js";
import { badRequest } from "./errors.js";

/** Sampling and length settings common to both endpoints. */
export interface SamplingRequest {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  stop?: string[];
  stream: boolean;
  includeUsage: boolean;
}

/** A validated /v1/chat/completions request. */
export interface ChatCompletionRequest extends SamplingRequest {
  messages: ChatMessage[];
  tools?: ToolSchema[];
  toolChoice?: ToolChoice;
  responseFormat?: "json_object" | { schema: unknown };
}

/** A validated /v1/completions request. */
export interface CompletionRequest extends SamplingRequest {
  prompt: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optNumber(body: Obj, key: string, min: number, max: number, integer = false): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw badRequest(`${key} must be a number`, key);
  if (integer && !Number.isInteger(v)) throw badRequest(`${key} must be an integer`, key);
  if (v < min || v > max) throw badRequest(`${key} must be between ${min} and ${max}`, key);
  return v;
}

function sampling(body: Obj, maxTokensLimit: number): SamplingRequest {
  const n = optNumber(body, "n", 1, 1, true);
  void n;
  const bestOf = optNumber(body, "best_of", 1, 1, true);
  void bestOf;
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false)
    throw badRequest("logprobs is not supported", "logprobs");
  if (body.stream !== undefined && typeof body.stream !== "boolean")
    throw badRequest("stream must be a boolean", "stream");
  const streamOptions = body.stream_options;
  if (streamOptions !== undefined && streamOptions !== null && !isObj(streamOptions))
    throw badRequest("stream_options must be an object", "stream_options");
  let stop: string[] | undefined;
  if (typeof body.stop === "string") stop = [body.stop];
  else if (Array.isArray(body.stop)) {
    if (body.stop.length > 4 || !body.stop.every((s) => typeof s === "string" && s.length > 0))
      throw badRequest("stop must be a non-empty string or up to 4 non-empty strings", "stop");
    stop = body.stop as string[];
  } else if (body.stop !== undefined && body.stop !== null)
    throw badRequest("stop must be a string or an array of strings", "stop");
  optNumber(body, "presence_penalty", -2, 2);
  optNumber(body, "frequency_penalty", -2, 2);
  const maxTokens =
    optNumber(body, "max_completion_tokens", 1, maxTokensLimit, true) ??
    optNumber(body, "max_tokens", 1, maxTokensLimit, true);
  const r: SamplingRequest = {
    stream: body.stream === true,
    includeUsage: isObj(streamOptions) && streamOptions.include_usage === true,
  };
  const set = <K extends keyof SamplingRequest>(k: K, v: SamplingRequest[K] | undefined) => {
    if (v !== undefined) r[k] = v;
  };
  set("maxTokens", maxTokens);
  set("temperature", optNumber(body, "temperature", 0, 2));
  set("topP", optNumber(body, "top_p", 0, 1));
  set("topK", optNumber(body, "top_k", 0, 1_000_000, true));
  set("minP", optNumber(body, "min_p", 0, 1));
  set("seed", optNumber(body, "seed", -(2 ** 53), 2 ** 53, true));
  set("stop", stop);
  return r;
}

function checkModel(body: Obj): void {
  if (body.model !== undefined && typeof body.model !== "string")
    throw badRequest("model must be a string", "model");
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

function message(v: unknown, i: number): ChatMessage {
  const p = `messages[${i}]`;
  if (!isObj(v)) throw badRequest(`${p} must be an object`, p);
  if (typeof v.role !== "string" || !ROLES.has(v.role))
    throw badRequest(`${p}.role must be system, developer, user, assistant or tool`, `${p}.role`);
  const role = (v.role === "developer" ? "system" : v.role) as ChatMessage["role"];
  let content: string | null;
  if (typeof v.content === "string") content = v.content;
  else if (v.content === null || v.content === undefined) content = null;
  else if (Array.isArray(v.content)) {
    content = v.content
      .map((part, k) => {
        if (!isObj(part) || typeof part.type !== "string")
          throw badRequest(`${p}.content[${k}] must be a content part`, `${p}.content`);
        if (part.type !== "text")
          throw badRequest(
            `${p}.content[${k}]: only text content is supported by this server`,
            `${p}.content`,
          );
        if (typeof part.text !== "string")
          throw badRequest(`${p}.content[${k}].text must be a string`, `${p}.content`);
        return part.text;
      })
      .join("");
  } else throw badRequest(`${p}.content must be a string, an array of parts or null`, `${p}.content`);
  const out: ChatMessage = { role, content };
  if (typeof v.name === "string") out.name = v.name;
  if (role === "tool") {
    if (content === null) throw badRequest(`${p}: a tool message needs content`, `${p}.content`);
    if (v.tool_call_id !== undefined && typeof v.tool_call_id !== "string")
      throw badRequest(`${p}.tool_call_id must be a string`, `${p}.tool_call_id`);
    if (typeof v.tool_call_id === "string") out.tool_call_id = v.tool_call_id;
  }
  if (v.tool_calls !== undefined && v.tool_calls !== null) {
    if (role !== "assistant" || !Array.isArray(v.tool_calls))
      throw badRequest(`${p}.tool_calls must be an array on an assistant message`, `${p}.tool_calls`);
    out.tool_calls = v.tool_calls.map((c, k): ToolCall => {
      const cp = `${p}.tool_calls[${k}]`;
      if (!isObj(c) || !isObj(c.function) || typeof c.function.name !== "string")
        throw badRequest(`${cp}.function.name must be a string`, cp);
      const args = c.function.arguments;
      if (typeof args !== "string" && !isObj(args))
        throw badRequest(`${cp}.function.arguments must be a JSON string`, cp);
      return {
        ...(typeof c.id === "string" ? { id: c.id } : {}),
        type: "function",
        function: { name: c.function.name, arguments: args as string | Record<string, unknown> },
      };
    });
  } else if (content === null && role !== "assistant")
    throw badRequest(`${p}.content is required`, `${p}.content`);
  return out;
}

const TOOL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function tools(v: unknown): ToolSchema[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw badRequest("tools must be an array", "tools");
  if (v.length > 128) throw badRequest("at most 128 tools", "tools");
  return v.map((t, i) => {
    if (!isObj(t) || t.type !== "function" || !isObj(t.function))
      throw badRequest(`tools[${i}] must be {"type":"function","function":{…}}`, `tools[${i}]`);
    const f = t.function;
    if (typeof f.name !== "string" || !TOOL_NAME.test(f.name))
      throw badRequest(`tools[${i}].function.name must match ${TOOL_NAME}`, `tools[${i}].function.name`);
    if (f.parameters !== undefined && !isObj(f.parameters))
      throw badRequest(
        `tools[${i}].function.parameters must be a JSON schema object`,
        `tools[${i}].function.parameters`,
      );
    return {
      type: "function" as const,
      function: {
        name: f.name,
        ...(typeof f.description === "string" ? { description: f.description } : {}),
        ...(isObj(f.parameters) ? { parameters: f.parameters } : {}),
      },
    };
  });
}

function toolChoice(v: unknown, available: ToolSchema[] | undefined): ToolChoice | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === "none" || v === "auto" || v === "required") {
    if (v === "required" && !available?.length)
      throw badRequest('tool_choice "required" needs tools', "tool_choice");
    return v;
  }
  if (isObj(v) && v.type === "function" && isObj(v.function) && typeof v.function.name === "string") {
    if (!available?.some((t) => t.function.name === (v.function as Obj).name))
      throw badRequest(`tool_choice names an unknown tool`, "tool_choice");
    return { name: v.function.name };
  }
  throw badRequest(
    'tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":…}}',
    "tool_choice",
  );
}

function responseFormat(v: unknown): ChatCompletionRequest["responseFormat"] {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v) || typeof v.type !== "string")
    throw badRequest("response_format must be an object with a type", "response_format");
  if (v.type === "text") return undefined;
  if (v.type === "json_object") return "json_object";
  if (v.type === "json_schema") {
    if (!isObj(v.json_schema) || !isObj(v.json_schema.schema))
      throw badRequest(
        "response_format.json_schema.schema must be a JSON schema object",
        "response_format.json_schema",
      );
    return { schema: v.json_schema.schema };
  }
  throw badRequest("response_format.type must be text, json_object or json_schema", "response_format.type");
}

/** Validates a chat completion body. */
export function parseChatRequest(body: unknown, maxTokensLimit: number): ChatCompletionRequest {
  if (!isObj(body)) throw badRequest("the request body must be a JSON object");
  checkModel(body);
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw badRequest("messages must be a non-empty array", "messages");
  const messages = body.messages.map(message);
  const t = tools(body.tools);
  const req: ChatCompletionRequest = { ...sampling(body, maxTokensLimit), messages };
  if (t?.length) req.tools = t;
  const choice = toolChoice(body.tool_choice, t);
  if (choice) req.toolChoice = choice;
  const rf = responseFormat(body.response_format);
  if (rf) req.responseFormat = rf;
  return req;
}

/** Validates a (legacy) completion body. */
export function parseCompletionRequest(body: unknown, maxTokensLimit: number): CompletionRequest {
  if (!isObj(body)) throw badRequest("the request body must be a JSON object");
  checkModel(body);
  let prompt: string;
  if (typeof body.prompt === "string") prompt = body.prompt;
  else if (Array.isArray(body.prompt) && body.prompt.length === 1 && typeof body.prompt[0] === "string")
    prompt = body.prompt[0];
  else throw badRequest("prompt must be a string (or an array holding one string)", "prompt");
  if (body.echo === true) throw badRequest("echo is not supported", "echo");
  if (body.suffix !== undefined && body.suffix !== null)
    throw badRequest("suffix is not supported", "suffix");
  return { ...sampling(body, maxTokensLimit), prompt };
}
