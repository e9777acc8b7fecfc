// An OpenAI-compatible HTTP server over one llama.cpp model (node:http, no framework):
// GET /v1/models, POST /v1/completions, POST /v1/chat/completions (SSE streaming, tools/tool_calls,
// response_format json_schema), GET /health. One model context serves requests in arrival order; at most
// `maxQueue` requests wait, more get 503. Bodies above `maxBodyBytes` get 413, malformed ones 400.
// Binds 127.0.0.1 unless told otherwise; an API key makes every /v1 route require `Authorization: Bearer`.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { chat } from "../infer/chat.js";
import { complete, type GenerateOptions, type GenerateResult } from "../infer/generate.js";
import type { LoadedModel } from "../infer/model.js";
import { TunekitError } from "../util/errors.js";
import { badRequest, HttpError } from "./errors.js";
import { parseChatRequest, parseCompletionRequest, type SamplingRequest } from "./validate.js";

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** The loaded model (the caller keeps ownership and disposes it after close()). */
  model: LoadedModel;
  /** Id reported by /v1/models and in responses. Default: model file name (+ adapter name). */
  modelId?: string;
  /** Interface to bind. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  /** When set, /v1 routes require `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest accepted request body, bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Most requests waiting for or holding the model; more are refused with 503. Default 64. */
  maxQueue?: number;
  /** max_tokens when the request gives none. Default 512 (never beyond the context). */
  defaultMaxTokens?: number;
  /** Receives one line per request (method, path, status, ms); silent by default. */
  log?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 (the OpenAI base URL is url + "/v1"). */
  url: string;
  host: string;
  port: number;
  /** Requests currently waiting for or using the model. */
  pending(): number;
  /** Stops accepting connections and waits for open ones to end. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** Whether a host string binds only the loopback interface. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith("127.");
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.reject(
      new HttpError(413, `request body is ${declared} bytes; the limit is ${limit}`, null, "body_too_large"),
    );
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        reject(
          new HttpError(413, `request body exceeds the limit of ${limit} bytes`, null, "body_too_large"),
        );
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on("error", (err) => {
      if (!done) {
        done = true;
        reject(err);
      }
    });
  });
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

function sse(res: ServerResponse, data: unknown): void {
  res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

function startSse(res: ServerResponse): void {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  res.flushHeaders();
}

function usage(r: GenerateResult) {
  return {
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens + r.completionTokens,
  };
}

function generateOptions(req: SamplingRequest, fallbackMax: number, signal: AbortSignal): GenerateOptions {
  return {
    maxTokens: req.maxTokens ?? fallbackMax,
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.topP !== undefined ? { topP: req.topP } : {}),
    ...(req.topK !== undefined ? { topK: req.topK } : {}),
    ...(req.minP !== undefined ? { minP: req.minP } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    ...(req.stop ? { stop: req.stop } : {}),
    signal,
  };
}

/** Starts the server; resolves once it listens. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const m = o.model;
  const host = o.host ?? "127.0.0.1";
  const modelId =
    o.modelId ??
    basename(m.info.modelPath).replace(/\.gguf$/i, "") +
      (m.info.adapterPath ? `+${basename(m.info.adapterPath).replace(/\.gguf$/i, "")}` : "");
  const maxBody = o.maxBodyBytes ?? 1024 * 1024;
  const maxQueue = o.maxQueue ?? 64;
  const maxTokensLimit = m.info.contextSize;
  const defaultMax = Math.min(o.defaultMaxTokens ?? 512, maxTokensLimit);
  const keyDigest = o.apiKey ? digest(o.apiKey) : undefined;
  const created = Math.floor(Date.now() / 1000);
  let pending = 0;

  function authorized(req: IncomingMessage): boolean {
    if (!keyDigest) return true;
    const h = req.headers.authorization ?? "";
    const m2 = /^Bearer\s+(.+)$/i.exec(h);
    return !!m2 && timingSafeEqual(digest(m2[1].trim()), keyDigest);
  }

  function admit(): void {
    if (pending >= maxQueue)
      throw new HttpError(503, `server busy: ${pending} requests queued`, null, "queue_full");
  }

  /** Runs one generation under the queue limit; the abort signal fires when the client goes away. */
  async function queued<T>(res: ServerResponse, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    admit();
    pending++;
    const controller = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) controller.abort();
    };
    res.on("close", onClose);
    try {
      return await work(controller.signal);
    } finally {
      pending--;
      res.off("close", onClose);
    }
  }

  async function chatCompletions(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const body = parseChatRequest(parseJson(await readBody(req, maxBody)), maxTokensLimit);
    const id = `chatcmpl-${randomBytes(12).toString("hex")}`;
    const now = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created: now,
      model: modelId,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });
    admit();
    if (body.stream) startSse(res);
    if (body.stream) sse(res, chunk({ role: "assistant", content: "" }, null));
    try {
      const r = await queued(res, (signal) =>
        chat(m, body.messages, {
          ...generateOptions(body, defaultMax, signal),
          ...(body.tools ? { tools: body.tools } : {}),
          ...(body.toolChoice ? { toolChoice: body.toolChoice } : {}),
          ...(body.responseFormat ? { responseFormat: body.responseFormat } : {}),
          ...(body.stream ? { onText: (delta: string) => sse(res, chunk({ content: delta }, null)) } : {}),
        }),
      );
      if (r.finishReason === "abort") return 499;
      const calls = r.message.tool_calls?.map((c) => ({
        id: c.id,
        type: "function",
        function: {
          name: c.function.name,
          arguments:
            typeof c.function.arguments === "string"
              ? c.function.arguments
              : JSON.stringify(c.function.arguments),
        },
      }));
      const finish = r.chatFinishReason === "abort" ? "stop" : r.chatFinishReason;
      if (body.stream) {
        if (calls?.length) sse(res, chunk({ tool_calls: calls.map((c, index) => ({ index, ...c })) }, null));
        sse(res, chunk({}, finish));
        if (body.includeUsage)
          sse(res, {
            id,
            object: "chat.completion.chunk",
            created: now,
            model: modelId,
            choices: [],
            usage: usage(r),
          });
        sse(res, "[DONE]");
        res.end();
        return 200;
      }
      sendJson(res, 200, {
        id,
        object: "chat.completion",
        created: now,
        model: modelId,
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: r.message.content ?? null,
              ...(calls?.length ? { tool_calls: calls } : {}),
            },
            finish_reason: finish,
            logprobs: null,
          },
        ],
        usage: usage(r),
      });
      return 200;
    } catch (err) {
      if (!body.stream) throw err;
      const e = toHttpError(err);
      sse(res, e.toJSON());
      res.end();
      return e.status;
    }
  }

  async function completions(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const body = parseCompletionRequest(parseJson(await readBody(req, maxBody)), maxTokensLimit);
    const id = `cmpl-${randomBytes(12).toString("hex")}`;
    const now = Math.floor(Date.now() / 1000);
    const chunk = (text: string, finish: string | null) => ({
      id,
      object: "text_completion",
      created: now,
      model: modelId,
      choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
    });
    admit();
    if (body.stream) startSse(res);
    try {
      const r = await queued(res, (signal) =>
        complete(m, body.prompt, {
          ...generateOptions(body, defaultMax, signal),
          ...(body.stream ? { onText: (delta: string) => sse(res, chunk(delta, null)) } : {}),
        }),
      );
      if (r.finishReason === "abort") return 499;
      if (body.stream) {
        sse(res, chunk("", r.finishReason));
        if (body.includeUsage)
          sse(res, {
            id,
            object: "text_completion",
            created: now,
            model: modelId,
            choices: [],
            usage: usage(r),
          });
        sse(res, "[DONE]");
        res.end();
        return 200;
      }
      sendJson(res, 200, { ...chunk(r.text, r.finishReason), usage: usage(r) });
      return 200;
    } catch (err) {
      if (!body.stream) throw err;
      const e = toHttpError(err);
      sse(res, e.toJSON());
      res.end();
      return e.status;
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const path = (req.url ?? "/").split("?")[0].replace(/\/+$/, "") || "/";
    if (path === "/health") {
      sendJson(res, 200, { status: "ok", pending });
      return 200;
    }
    const known = ["/v1/models", "/v1/completions", "/v1/chat/completions"];
    if (!known.includes(path) && !path.startsWith("/v1/models/"))
      throw new HttpError(404, `no route ${path}`, null, "not_found");
    if (!authorized(req))
      throw new HttpError(401, "missing or wrong API key (Authorization: Bearer …)", null, "invalid_api_key");
    if (path === "/v1/models" || path.startsWith("/v1/models/")) {
      if (req.method !== "GET") throw new HttpError(405, `${req.method} is not allowed on ${path}`);
      const card = {
        id: modelId,
        object: "model",
        created,
        owned_by: "tunekit",
        meta: { context_size: m.info.contextSize, architecture: m.info.architecture },
      };
      if (path === "/v1/models") sendJson(res, 200, { object: "list", data: [card] });
      else if (decodeURIComponent(path.slice("/v1/models/".length)) === modelId) sendJson(res, 200, card);
      else
        throw new HttpError(
          404,
          `model ${path.slice("/v1/models/".length)} not found`,
          "model",
          "model_not_found",
        );
      return 200;
    }
    if (req.method !== "POST") throw new HttpError(405, `${req.method} is not allowed on ${path}`);
    return path === "/v1/chat/completions" ? chatCompletions(req, res) : completions(req, res);
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    route(req, res)
      .catch((err: unknown) => {
        const e = toHttpError(err);
        sendJson(
          res,
          e.status,
          e.toJSON(),
          e.status === 413 ? { connection: "close" } : e.status === 503 ? { "retry-after": "1" } : {},
        );
        // Drain a refused body briefly so the client reads the 413, then drop the connection.
        if (e.status === 413) {
          req.resume();
          res.on("finish", () => setTimeout(() => req.destroy(), 1000).unref());
        }
        return e.status;
      })
      .then((status) =>
        o.log?.(`${req.method} ${req.url} ${status} ${(performance.now() - started).toFixed(0)} ms`),
      );
  });
  server.requestTimeout = 0; // long generations are fine; the queue bounds the load
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new TunekitError(`cannot listen on ${host}:${o.port ?? 8080}: ${err.message}`)),
    );
    server.listen(o.port ?? 8080, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${urlHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    pending: () => pending,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  // Input errors from the model layer (prompt too long, bad schema, template failure) are the client's.
  if (err instanceof TunekitError) return new HttpError(400, err.message, null, "invalid_request");
  return new HttpError(
    500,
    `internal error: ${(err as Error)?.message ?? String(err)}`,
    null,
    "internal_error",
  );
}
