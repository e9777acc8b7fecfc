// Who answers the eval prompts: a GGUF (+ adapter) in llama.cpp through node-llama-cpp, or any
// OpenAI-compatible endpoint (a hosted baseline, vLLM, llama-server, tunekit serve).
import { dirname } from "node:path";
import type { ToolCall } from "../chat/types.js";
import { chat } from "../infer/chat.js";
import { renderChatPrompt } from "../infer/chat-prompt.js";
import { loadModel, type LoadedModel, type LoadModelOptions } from "../infer/model.js";
import { tokenLogProbs } from "../infer/scoring.js";
import { parseToolCalls } from "../infer/tool-calls.js";
import { TunekitError } from "../util/errors.js";
import type { EvalExample } from "./dataset.js";
import { endpointChat, listEndpointModels, type EndpointOptions } from "./openai-client.js";

/** How to generate answers. */
export interface AnswerSettings {
  /** Most tokens per answer. */
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** Sampler seed. */
  seed?: number;
  /** "required" forces a grammar-constrained tool call on examples that offer tools. */
  toolChoice: "auto" | "required";
  /** Constrain text answers to JSON. */
  responseFormat?: "json_object" | { schema: unknown };
}

/** One answer with its timing. */
export interface BackendReply {
  /** Answer text (without tool-call markup when calls were found). */
  text: string;
  /** Tool calls found in the answer. */
  toolCalls: ToolCall[];
  /** The model tried to call a tool but the call did not parse. */
  invalidToolCall: boolean;
  /** Request wall time, ms. */
  latencyMs: number;
  /** Time to first token, ms, when known. */
  firstTokenMs?: number;
  /** Generated tokens per second after the first (local models only). */
  decodeTokensPerSecond?: number;
  /** Generated tokens (0 when the endpoint does not say). */
  completionTokens: number;
  /** Prompt tokens, when known. */
  promptTokens?: number;
  finishReason: string;
}

/** Something that answers eval prompts. */
export interface EvalBackend {
  /** "llama.cpp" or "endpoint". */
  readonly kind: "llama.cpp" | "endpoint";
  /** What was evaluated (paths or endpoint + model), stored in the run result. */
  readonly description: Record<string, unknown>;
  answer(example: EvalExample, settings: AnswerSettings): Promise<BackendReply>;
  /** ln p of each reference token given the prompt (teacher forcing); local models only. */
  referenceLogProbs?(example: EvalExample): Promise<Float64Array | undefined>;
  dispose(): Promise<void>;
}

/** A GGUF model (+ LoRA adapter) in llama.cpp; disposed with the backend. */
export async function localBackend(options: LoadModelOptions): Promise<EvalBackend> {
  const m = await loadModel(options);
  return { ...modelBackend(m), dispose: () => m.dispose() };
}

/** A backend over an already loaded model (the caller keeps ownership; dispose() does nothing). */
export function modelBackend(m: LoadedModel): EvalBackend {
  const options = m.info;
  return {
    kind: "llama.cpp",
    description: {
      model: options.modelPath,
      ...(options.adapterPath ? { adapter: options.adapterPath, adapterScale: options.adapterScale } : {}),
      modelBytes: m.info.fileBytes,
      architecture: m.info.architecture,
      contextSize: m.info.contextSize,
      chatTemplate: m.info.chatTemplate ? "gguf" : "chatml-fallback",
    },
    async answer(ex, s) {
      const tools = ex.tools?.length ? ex.tools : undefined;
      const started = performance.now();
      const r = await chat(m, ex.prompt, {
        ...(tools ? { tools, toolChoice: s.toolChoice } : {}),
        maxTokens: s.maxTokens,
        temperature: s.temperature,
        ...(s.seed !== undefined ? { seed: s.seed } : {}),
        ...(s.responseFormat && !tools ? { responseFormat: s.responseFormat } : {}),
      });
      return {
        text: typeof r.message.content === "string" ? r.message.content : "",
        toolCalls: r.message.tool_calls ?? [],
        invalidToolCall: r.invalidToolCall,
        latencyMs: performance.now() - started,
        firstTokenMs: r.firstTokenMs,
        decodeTokensPerSecond: r.decodeTokensPerSecond,
        completionTokens: r.completionTokens,
        promptTokens: r.promptTokens,
        finishReason: r.chatFinishReason,
      };
    },
    async referenceLogProbs(ex) {
      const tools = ex.tools?.length ? ex.tools : undefined;
      const reference = {
        role: "assistant" as const,
        content: ex.referenceText,
        ...(ex.referenceCalls.length ? { tool_calls: ex.referenceCalls } : {}),
      };
      const promptText = renderChatPrompt(m.info, { messages: ex.prompt, tools });
      const fullText = renderChatPrompt(m.info, {
        messages: [...ex.prompt, reference],
        tools,
        addGenerationPrompt: false,
      });
      // Templates that rewrite earlier turns (e.g. drop reasoning) have no clean prompt/answer split.
      if (!fullText.startsWith(promptText)) return undefined;
      const promptTokens = m.withBos(m.tokenize(promptText, true));
      const full = m.withBos(m.tokenize(fullText, true));
      let shared = 0;
      while (shared < promptTokens.length && full[shared] === promptTokens[shared]) shared++;
      if (full.length <= shared || full.length > m.info.contextSize) return undefined;
      const lp = await m.exclusive(() => tokenLogProbs(m, full));
      return lp.slice(Math.max(0, shared - 1));
    },
    dispose: async () => undefined,
  };
}

/** An OpenAI-compatible endpoint. */
export async function endpointBackend(
  options: EndpointOptions & { dataFile?: string },
): Promise<EvalBackend> {
  const model = options.model ?? (await listEndpointModels(options))[0];
  if (!model) throw new TunekitError(`${options.endpoint} lists no models; pass --endpoint-model`);
  const o = {
    ...options,
    model,
    baseDir: options.baseDir ?? (options.dataFile ? dirname(options.dataFile) : "."),
  };
  return {
    kind: "endpoint",
    description: { endpoint: options.endpoint, model },
    async answer(ex, s) {
      const tools = ex.tools?.length ? ex.tools : undefined;
      const r = await endpointChat(o, {
        messages: ex.prompt,
        ...(tools ? { tools, toolChoice: s.toolChoice } : {}),
        maxTokens: s.maxTokens,
        temperature: s.temperature,
        ...(s.seed !== undefined ? { seed: s.seed } : {}),
        ...(s.responseFormat && !tools ? { responseFormat: s.responseFormat } : {}),
      });
      let text = r.content;
      let toolCalls = r.toolCalls;
      let invalid = false;
      // Endpoints without native tool support answer with the call as text.
      if (tools && toolCalls.length === 0) {
        const parsed = parseToolCalls(text);
        toolCalls = parsed.calls;
        invalid = parsed.invalid;
        if (toolCalls.length) text = parsed.content;
      }
      return {
        text,
        toolCalls,
        invalidToolCall: invalid,
        latencyMs: r.latencyMs,
        completionTokens: r.completionTokens ?? 0,
        ...(r.promptTokens !== undefined ? { promptTokens: r.promptTokens } : {}),
        finishReason: r.finishReason,
      };
    },
    dispose: async () => undefined,
  };
}
