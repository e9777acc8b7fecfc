// A minimal OpenAI-compatible chat client (fetch) for baselines: hosted models, vLLM, llama-server or
// tunekit's own `serve`. The key comes from OPENAI_API_KEY unless given; it is only sent, never printed.
import { readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import type { ChatMessage, ToolCall, ToolSchema } from "../chat/types.js";
import { TunekitError } from "../util/errors.js";

/** Where and how to reach the endpoint. */
export interface EndpointOptions {
  /** Base URL (e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1) or the full …/chat/completions URL. */
  endpoint: string;
  /** Model id to request. Default: the first id the endpoint lists at /models. */
  model?: string;
  /** Bearer key. Default: process.env.OPENAI_API_KEY. */
  apiKey?: string;
  /** Per-request timeout, ms. Default 120000. */
  timeoutMs?: number;
  /** Folder that relative image paths of records are resolved against. */
  baseDir?: string;
}

/** One chat request. */
export interface EndpointChatRequest {
  messages: readonly ChatMessage[];
  tools?: readonly ToolSchema[];
  toolChoice?: "auto" | "required" | "none";
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  responseFormat?: "json_object" | { schema: unknown };
}

/** The endpoint's reply with timing. */
export interface EndpointChatReply {
  content: string;
  toolCalls: ToolCall[];
  finishReason: string;
  promptTokens?: number;
  completionTokens?: number;
  latencyMs: number;
}

/** Resolves the base URL (…/v1) from what the user gave. */
export function endpointBase(endpoint: string): string {
  return endpoint.replace(/\/+$/, "").replace(/\/chat\/completions$/, "");
}

function headers(apiKey: string | undefined): Record<string, string> {
  const key = apiKey ?? process.env.OPENAI_API_KEY;
  return { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

async function request(url: string, init: RequestInit, timeoutMs: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new TunekitError(`cannot reach ${url}: ${(err as Error).message}`);
  }
  const body = await res.text();
  if (!res.ok) {
    let message = body.slice(0, 500);
    try {
      message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new TunekitError(`${url} answered ${res.status}: ${message}`);
  }
  try {
    return JSON.parse(body);
  } catch {
    throw new TunekitError(`${url} did not answer JSON`);
  }
}

/** The model ids the endpoint lists. */
export async function listEndpointModels(o: EndpointOptions): Promise<string[]> {
  const data = (await request(
    `${endpointBase(o.endpoint)}/models`,
    { headers: headers(o.apiKey) },
    o.timeoutMs ?? 30000,
  )) as {
    data?: Array<{ id?: string }>;
  };
  return (data.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string");
}

const MIME: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
};

/** Converts the data layer's {type:"image", path|url} parts into OpenAI image_url parts (files become data: URLs). */
function wireMessage(m: ChatMessage, baseDir: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m };
  if (Array.isArray(m.content))
    out.content = (m.content as unknown as Array<Record<string, unknown>>).map((p) => {
      if (p.type !== "image") return p;
      if (typeof p.url === "string") return { type: "image_url", image_url: { url: p.url } };
      const file = resolve(baseDir, String(p.path));
      const mime = MIME[extname(file).toLowerCase()] ?? "application/octet-stream";
      return {
        type: "image_url",
        image_url: { url: `data:${mime};base64,${readFileSync(file).toString("base64")}` },
      };
    });
  if (m.tool_calls)
    out.tool_calls = m.tool_calls.map((c) => ({
      ...c,
      type: "function",
      function: {
        name: c.function.name,
        arguments:
          typeof c.function.arguments === "string"
            ? c.function.arguments
            : JSON.stringify(c.function.arguments),
      },
    }));
  return out;
}

/** Sends one chat completion request and times it. */
export async function endpointChat(
  o: EndpointOptions & { model: string },
  req: EndpointChatRequest,
): Promise<EndpointChatReply> {
  const body: Record<string, unknown> = {
    model: o.model,
    messages: req.messages.map((m) => wireMessage(m, o.baseDir ?? ".")),
    ...(req.maxTokens !== undefined ? { max_tokens: req.maxTokens } : {}),
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
  };
  if (req.tools?.length) {
    body.tools = req.tools;
    if (req.toolChoice) body.tool_choice = req.toolChoice;
  }
  if (req.responseFormat === "json_object") body.response_format = { type: "json_object" };
  else if (req.responseFormat)
    body.response_format = {
      type: "json_schema",
      json_schema: { name: "output", schema: req.responseFormat.schema },
    };
  const started = performance.now();
  const data = (await request(
    `${endpointBase(o.endpoint)}/chat/completions`,
    { method: "POST", headers: headers(o.apiKey), body: JSON.stringify(body) },
    o.timeoutMs ?? 120000,
  )) as {
    choices?: Array<{
      message?: { content?: string | null; tool_calls?: ToolCall[] };
      finish_reason?: string;
    }>;
    usage?: { prompt_tokens?: number; completion_tokens?: number };
  };
  const latencyMs = performance.now() - started;
  const choice = data.choices?.[0];
  if (!choice?.message) throw new TunekitError(`${o.endpoint} returned no choices`);
  return {
    content: choice.message.content ?? "",
    toolCalls: choice.message.tool_calls ?? [],
    finishReason: choice.finish_reason ?? "stop",
    ...(data.usage?.prompt_tokens !== undefined ? { promptTokens: data.usage.prompt_tokens } : {}),
    ...(data.usage?.completion_tokens !== undefined
      ? { completionTokens: data.usage.completion_tokens }
      : {}),
    latencyMs,
  };
}
