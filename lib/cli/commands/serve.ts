// `tunekit serve …` (OpenAI-compatible HTTP server) and `tunekit chat …` (terminal chat): thin callers of lib/serve.
import type { Command } from "commander";
import { loadModel } from "../../infer/model.js";
import { runChatRepl } from "../../serve/chat-repl.js";
import { isLoopback, startServer } from "../../serve/server.js";
import { action, emit, num, type CommonOptions } from "../output.js";

interface ModelOptions {
  model: string;
  adapter?: string;
  adapterScale?: number;
  context?: number;
  threads?: number;
}

interface ServeOptions extends ModelOptions, CommonOptions {
  port: number;
  host: string;
  apiKey?: string;
  maxBody?: number;
  maxQueue?: number;
  modelId?: string;
  quiet?: boolean;
}

interface ChatOptions extends ModelOptions {
  system?: string;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

function modelOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--model <file>", "GGUF model")
    .option("--adapter <file>", "LoRA adapter GGUF")
    .option("--adapter-scale <x>", "adapter scale (default 1)", num("--adapter-scale"))
    .option("--context <n>", "context length in tokens", num("--context"))
    .option("--threads <n>", "CPU threads", num("--threads"));
}

const load = (o: ModelOptions) =>
  loadModel({
    modelPath: o.model,
    ...(o.adapter ? { adapterPath: o.adapter, adapterScale: o.adapterScale } : {}),
    ...(o.context ? { contextSize: o.context } : {}),
    ...(o.threads ? { threads: o.threads } : {}),
  });

export function register(program: Command): void {
  modelOptions(
    program.command("serve").description("Serve a GGUF model (+ adapter) over an OpenAI-compatible HTTP API"),
  )
    .option("--port <n>", "port (0 = any free port)", num("--port"), 8080)
    .option("--host <addr>", "interface to bind", "127.0.0.1")
    .option("--api-key <key>", "require Authorization: Bearer <key> (default: TUNEKIT_API_KEY if set)")
    .option("--max-body <bytes>", "largest request body (default 1048576)", num("--max-body"))
    .option("--max-queue <n>", "most queued requests before 503 (default 64)", num("--max-queue"))
    .option("--model-id <id>", "model id reported by /v1/models")
    .option("--quiet", "do not log requests")
    .option("--json", "print the listening address as one JSON document")
    .action(
      action(async (opts: ServeOptions) => {
        const apiKey = opts.apiKey ?? process.env.TUNEKIT_API_KEY;
        if (!isLoopback(opts.host) && !apiKey)
          process.stderr.write(
            `warning: listening on ${opts.host} without an API key: anyone who can reach it can use the model\n`,
          );
        const model = await load(opts);
        const server = await startServer({
          model,
          host: opts.host,
          port: opts.port,
          ...(apiKey ? { apiKey } : {}),
          ...(opts.maxBody ? { maxBodyBytes: opts.maxBody } : {}),
          ...(opts.maxQueue ? { maxQueue: opts.maxQueue } : {}),
          ...(opts.modelId ? { modelId: opts.modelId } : {}),
          ...(opts.quiet || opts.json ? {} : { log: (l: string) => process.stderr.write(`${l}\n`) }),
        });
        emit(
          {
            url: server.url,
            openaiBaseUrl: `${server.url}/v1`,
            model: opts.model,
            adapter: opts.adapter ?? null,
            auth: !!apiKey,
          },
          opts,
          (r) =>
            `serving ${r.model}${r.adapter ? ` + ${r.adapter}` : ""} at ${r.openaiBaseUrl}${r.auth ? " (API key required)" : ""}; Ctrl-C stops`,
        );
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
        await server.close();
        await model.dispose();
      }),
    );

  modelOptions(program.command("chat").description("Chat with a GGUF model (+ adapter) in the terminal"))
    .option("--system <text>", "system prompt")
    .option("--max-tokens <n>", "most tokens per reply (default 512)", num("--max-tokens"))
    .option("--temperature <t>", "sampling temperature (default 0.7)", num("--temperature"))
    .option("--seed <n>", "sampler seed", num("--seed"))
    .action(
      action(async (opts: ChatOptions) => {
        const model = await load(opts);
        try {
          await runChatRepl({
            model,
            ...(opts.system ? { system: opts.system } : {}),
            ...(opts.maxTokens ? { maxTokens: opts.maxTokens } : {}),
            ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
            ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
          });
        } finally {
          await model.dispose();
        }
      }),
    );
}
