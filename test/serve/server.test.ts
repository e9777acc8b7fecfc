// The OpenAI-compatible server, exercised with plain fetch on 127.0.0.1 against the tiny random Llama.
// Greedy output is checked against node-llama-cpp's own LlamaCompletion; tool calls and JSON answers
// against the request's JSON schema.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { sharedDir } from "../../lib/util/paths.js";
import { loadModel, type LoadedModel } from "../../lib/infer/model.js";
import { nodeLlamaCppModule } from "../../lib/infer/node-llama.js";
import { startServer, type RunningServer } from "../../lib/serve/server.js";
import { validateJsonSchema } from "../../lib/eval/metrics/json-schema.js";
import { runChatRepl } from "../../lib/serve/chat-repl.js";
import { PassThrough, Readable } from "node:stream";

const shared = sharedDir();
const modelPath = shared && join(shared, "models/tiny-random-llama/llama-2-tiny-random.gguf");
const skip = !shared && "../shared is absent";

let model: LoadedModel;
let server: RunningServer;

before(async () => {
  if (!modelPath) return;
  model = await loadModel({ modelPath, contextSize: 1024, threads: 1 });
  server = await startServer({ model, port: 0, maxBodyBytes: 64 * 1024 });
});

after(async () => {
  await server?.close();
  await model?.dispose();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

/** Reads an SSE response into its data payloads. */
async function sseEvents(res: Response): Promise<string[]> {
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((b) => {
      assert.ok(b.startsWith("data: "), `SSE block without data: ${b}`);
      return b.slice("data: ".length);
    });
}

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather forecast",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", enum: ["Paris", "Bogotá", "Lima"] },
        unit: { enum: ["c", "f"] },
        days: { type: "boolean" },
      },
      required: ["city", "unit", "days"],
    },
  },
};

test("GET /v1/models lists the served model", { skip }, async () => {
  const res = await fetch(`${server.url}/v1/models`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { object: string; data: Array<{ id: string; object: string }> };
  assert.equal(body.object, "list");
  assert.equal(body.data.length, 1);
  assert.equal(body.data[0].id, "llama-2-tiny-random");
  assert.equal((await fetch(`${server.url}/v1/models/llama-2-tiny-random`)).status, 200);
});

test("completions: greedy text equals node-llama-cpp's LlamaCompletion", { skip }, async () => {
  const prompt = "Once upon a time, in a quiet village,";
  const res = await post("/v1/completions", { model: "x", prompt, max_tokens: 12, temperature: 0 });
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    object: string;
    choices: Array<{ text: string; finish_reason: string }>;
    usage: { completion_tokens: number; prompt_tokens: number; total_tokens: number };
  };
  assert.equal(body.object, "text_completion");
  assert.equal(body.usage.completion_tokens, 12);
  assert.equal(body.choices[0].finish_reason, "length");
  assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + 12);
  // Reference: node-llama-cpp's high-level completion on a separate context of the same model.
  const { LlamaCompletion } = await nodeLlamaCppModule();
  const ctx = await model.model.createContext({ contextSize: 256, threads: 1 });
  try {
    const expected = await new LlamaCompletion({ contextSequence: ctx.getSequence() }).generateCompletion(
      prompt,
      {
        maxTokens: 12,
        temperature: 0,
        repeatPenalty: false,
      },
    );
    assert.equal(body.choices[0].text, expected);
  } finally {
    await ctx.dispose();
  }
});

test(
  "chat: streaming chunks concatenate to the non-streamed answer and end with [DONE]",
  { skip },
  async () => {
    const request = {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hola, ¿qué tal?" },
      ],
      max_tokens: 10,
      temperature: 0,
    };
    const plain = await post("/v1/chat/completions", request);
    assert.equal(plain.status, 200);
    const answer = (await plain.json()) as {
      object: string;
      choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
    };
    assert.equal(answer.object, "chat.completion");
    assert.equal(answer.choices[0].message.role, "assistant");
    assert.equal(typeof answer.choices[0].message.content, "string");
    const streamed = await post("/v1/chat/completions", {
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(streamed.status, 200);
    const events = await sseEvents(streamed);
    assert.equal(events.at(-1), "[DONE]");
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e) as {
          object: string;
          choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>;
          usage?: { completion_tokens: number };
        },
    );
    for (const c of chunks) assert.equal(c.object, "chat.completion.chunk");
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? "")).join("");
    assert.equal(text, answer.choices[0].message.content);
    assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason).length, 1);
    assert.equal(chunks.at(-1)!.usage!.completion_tokens, 10);
  },
);

test("completions stream too", { skip }, async () => {
  const res = await post("/v1/completions", { prompt: "The", max_tokens: 5, stream: true });
  const events = await sseEvents(res);
  assert.equal(events.at(-1), "[DONE]");
  const last = JSON.parse(events.at(-2)!) as { choices: Array<{ finish_reason: string }> };
  assert.equal(last.choices[0].finish_reason, "length");
});

test(
  "tool_choice required: a grammar-forced call comes back as a valid tool_calls structure",
  { skip },
  async () => {
    for (const stream of [false, true]) {
      const res = await post("/v1/chat/completions", {
        messages: [{ role: "user", content: "What's the weather in Lima?" }],
        tools: [weatherTool],
        tool_choice: "required",
        max_tokens: 80,
        temperature: 0.8,
        seed: 7,
        stream,
      });
      assert.equal(res.status, 200);
      let calls: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
      let finish: string;
      if (stream) {
        const events = (await sseEvents(res)).slice(0, -1).map(
          (e) =>
            JSON.parse(e) as {
              choices: Array<{ delta: { tool_calls?: typeof calls }; finish_reason: string | null }>;
            },
        );
        calls = events.flatMap((e) => e.choices[0].delta.tool_calls ?? []);
        finish = events.find((e) => e.choices[0].finish_reason)!.choices[0].finish_reason!;
      } else {
        const body = (await res.json()) as {
          choices: Array<{
            message: { content: string | null; tool_calls: typeof calls };
            finish_reason: string;
          }>;
        };
        assert.equal(body.choices[0].message.content, null);
        calls = body.choices[0].message.tool_calls;
        finish = body.choices[0].finish_reason;
      }
      assert.equal(finish, "tool_calls");
      assert.equal(calls.length, 1);
      assert.match(calls[0].id, /^call_/);
      assert.equal(calls[0].type, "function");
      assert.equal(calls[0].function.name, "get_weather");
      const args = JSON.parse(calls[0].function.arguments) as unknown;
      assert.deepEqual(validateJsonSchema(args, weatherTool.function.parameters), []);
    }
  },
);

test("response_format json_schema constrains the answer", { skip }, async () => {
  const schema = {
    type: "object",
    properties: { answer: { enum: ["yes", "no"] }, confidence: { type: "integer" } },
    required: ["answer", "confidence"],
  };
  const res = await post("/v1/chat/completions", {
    messages: [{ role: "user", content: "Is the sky blue?" }],
    response_format: { type: "json_schema", json_schema: { name: "a", schema } },
    max_tokens: 60,
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
  assert.deepEqual(validateJsonSchema(JSON.parse(body.choices[0].message.content), schema), []);
});

test("malformed, invalid and oversized requests get 4xx JSON errors", { skip }, async () => {
  const expectError = async (res: Response, status: number, param?: string) => {
    assert.equal(res.status, status);
    const body = (await res.json()) as { error: { message: string; type: string; param: string | null } };
    assert.equal(typeof body.error.message, "string");
    if (param) assert.equal(body.error.param, param);
  };
  await expectError(await post("/v1/chat/completions", "{not json"), 400);
  await expectError(await post("/v1/chat/completions", []), 400);
  await expectError(await post("/v1/chat/completions", { messages: [] }), 400, "messages");
  await expectError(
    await post("/v1/chat/completions", { messages: [{ role: "wizard", content: "x" }] }),
    400,
    "messages[0].role",
  );
  await expectError(
    await post("/v1/chat/completions", { messages: [{ role: "user", content: "x" }], temperature: 7 }),
    400,
    "temperature",
  );
  await expectError(
    await post("/v1/chat/completions", { messages: [{ role: "user", content: "x" }], max_tokens: 0 }),
    400,
    "max_tokens",
  );
  await expectError(
    await post("/v1/chat/completions", { messages: [{ role: "user", content: "x" }], n: 3 }),
    400,
    "n",
  );
  await expectError(
    await post("/v1/chat/completions", {
      messages: [{ role: "user", content: "x" }],
      tool_choice: "required",
    }),
    400,
    "tool_choice",
  );
  await expectError(
    await post("/v1/chat/completions", {
      messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "bad name!" } }],
    }),
    400,
  );
  await expectError(await post("/v1/completions", { prompt: 42 }), 400, "prompt");
  await expectError(await post("/v1/completions", { prompt: "x".repeat(200_000) }), 413);
  await expectError(await fetch(`${server.url}/v1/completions`), 405);
  await expectError(await fetch(`${server.url}/v2/anything`), 404);
  // a prompt longer than the context is the client's problem too
  await expectError(await post("/v1/completions", { prompt: "word ".repeat(3000), max_tokens: 4 }), 400);
  // still serving
  assert.equal((await post("/v1/completions", { prompt: "ok", max_tokens: 2 })).status, 200);
});

test("stays up under 32 concurrent requests, served in turn", { skip }, async () => {
  const results = await Promise.all(
    Array.from({ length: 32 }, (_, i) =>
      i % 2 === 0
        ? post("/v1/completions", { prompt: `Story ${i}:`, max_tokens: 4 })
        : post("/v1/chat/completions", {
            messages: [{ role: "user", content: `Question ${i}?` }],
            max_tokens: 4,
            stream: i % 4 === 1,
          }),
    ),
  );
  assert.deepEqual(
    results.map((r) => r.status),
    new Array(32).fill(200),
  );
  await Promise.all(results.map((r) => r.text()));
  assert.equal(server.pending(), 0);
  const health = (await (await fetch(`${server.url}/health`)).json()) as { status: string };
  assert.equal(health.status, "ok");
});

test("a full queue answers 503; an API key is enforced", { skip }, async () => {
  const small = await startServer({ model, port: 0, maxQueue: 2, apiKey: "sk-test-123" });
  try {
    const unauth = await fetch(`${small.url}/v1/models`);
    assert.equal(unauth.status, 401);
    assert.equal(
      (await fetch(`${small.url}/v1/models`, { headers: { authorization: "Bearer wrong" } })).status,
      401,
    );
    const auth = { authorization: "Bearer sk-test-123", "content-type": "application/json" };
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${small.url}/v1/completions`, {
          method: "POST",
          headers: auth,
          body: JSON.stringify({ prompt: "a", max_tokens: 8 }),
        }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    await Promise.all(results.map((r) => r.text()));
    assert.ok(statuses.includes(200) && statuses.includes(503), `expected both 200 and 503, got ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 503));
  } finally {
    await small.close();
  }
});

test("terminal chat: streamed replies, /reset and /system, ends at /exit", { skip }, async () => {
  const output = new PassThrough();
  let printed = "";
  output.on("data", (d: Buffer) => (printed += d.toString()));
  const history = await runChatRepl({
    model,
    maxTokens: 4,
    temperature: 0,
    input: Readable.from([
      "hola\n",
      "/reset\n",
      "/system Eres breve.\n",
      "¿qué tal?\n",
      "/exit\n",
      "never read\n",
    ]),
    output,
  });
  assert.deepEqual(
    history.map((m) => m.role),
    ["user", "assistant"],
  );
  assert.equal(history[0].content, "¿qué tal?");
  assert.match(printed, /conversation cleared/);
  assert.match(printed, /\[4 tokens, /);
  assert.ok(printed.includes(history[1].content as string));
});
