// A GGUF model (optionally with a LoRA adapter) loaded in llama.cpp through node-llama-cpp, with one
// context sequence that every request shares in turn. Requests are serialised with `exclusive()`; a
// prompt that shares a prefix with the previous one reuses its KV cache.
import { statSync } from "node:fs";
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { getLlamaCpp } from "./llama.js";
import { decodeThreads } from "../engine/threads.js";
import { InputError, TunekitError } from "../util/errors.js";

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Path of the GGUF model file. */
  modelPath: string;
  /** Path of a LoRA adapter GGUF (general.type = adapter) applied on top of the model. */
  adapterPath?: string;
  /** Scale of the adapter (llama.cpp's --lora-scaled). Default 1. */
  adapterScale?: number;
  /** Context length in tokens. Default: the model's training context, at most 4096. */
  contextSize?: number;
  /** CPU threads for evaluation. Default: 1 for small models (lib/engine/threads.ts), else node-llama-cpp's choice. */
  threads?: number;
  /** Logical batch size for prompt processing. Default: node-llama-cpp's choice. */
  batchSize?: number;
  /** f32 KV cache and no flash attention: the reference setting for parity checks (slower, more memory). */
  precise?: boolean;
}

/** Facts about a loaded model that callers print or store. */
export interface LoadedModelInfo {
  modelPath: string;
  adapterPath?: string;
  adapterScale?: number;
  /** Size of the model file, bytes. */
  fileBytes: number;
  /** general.architecture. */
  architecture: string;
  /** general.name, or the file name. */
  name: string;
  /** Number of tokens in the vocabulary. */
  vocabSize: number;
  /** Context length of the created context, tokens. */
  contextSize: number;
  /** tokenizer.chat_template, when the GGUF has one. */
  chatTemplate?: string;
  /** Text of the BOS / EOS tokens ("" when absent), as templates expect them. */
  bosText: string;
  eosText: string;
}

/** A model ready for generation and scoring. Call {@link LoadedModel.dispose} when done. */
export class LoadedModel {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly sequence: LlamaContextSequence,
    readonly info: LoadedModelInfo,
  ) {}

  /** Runs `fn` when no other request is using the sequence (FIFO). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Text to tokens; `special` parses control tokens written as text (chat templates need it). */
  tokenize(text: string, special = true): Token[] {
    return this.model.tokenize(text, special);
  }

  /** Tokens to text (special tokens are not rendered). */
  detokenize(tokens: readonly Token[], lastTokens?: readonly Token[]): string {
    return this.model.detokenize(tokens, false, lastTokens);
  }

  /** Prepends BOS when the model asks for it and the tokens do not start with it already. */
  withBos(tokens: Token[]): Token[] {
    const bos = this.model.tokens.bos;
    if (bos === null || !this.model.tokens.shouldPrependBosToken || tokens[0] === bos) return tokens;
    return [bos, ...tokens];
  }

  /**
   * Makes the sequence hold a prefix of `tokens` and returns the tokens still to evaluate (at least one,
   * so that logits exist for the last position).
   */
  async prepare(tokens: Token[]): Promise<Token[]> {
    if (tokens.length === 0) throw new TunekitError("cannot evaluate an empty token list");
    if (tokens.length > this.info.contextSize)
      throw new InputError(`prompt has ${tokens.length} tokens; the context holds ${this.info.contextSize}`);
    const current = this.sequence.contextTokens;
    let same = 0;
    while (same < current.length && same < tokens.length && current[same] === tokens[same]) same++;
    same = Math.min(same, tokens.length - 1);
    if (same < this.sequence.nextTokenIndex)
      await this.sequence.eraseContextTokenRanges([{ start: same, end: this.sequence.nextTokenIndex }]);
    return tokens.slice(same);
  }

  /** Frees the context and the model. */
  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

/** Loads a GGUF model (and adapter) with llama.cpp. */
export async function loadModel(options: LoadModelOptions): Promise<LoadedModel> {
  const fileBytes = fileSize(options.modelPath, "model");
  if (options.adapterPath) fileSize(options.adapterPath, "adapter");
  const llama = await getLlamaCpp();
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath });
  } catch (err) {
    throw new InputError(`llama.cpp cannot load the model: ${(err as Error).message}`, {
      file: options.modelPath,
    });
  }
  const threads = options.threads ?? decodeThreads(fileBytes);
  const contextSize = options.contextSize ?? Math.min(model.trainContextSize || 4096, 4096);
  let context: LlamaContext;
  try {
    context = await model.createContext({
      contextSize,
      sequences: 1,
      ...(threads ? { threads } : {}),
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      ...(options.precise
        ? {
            flashAttention: false,
            experimentalKvCacheKeyType: "F32" as const,
            experimentalKvCacheValueType: "F32" as const,
          }
        : {}),
      ...(options.adapterPath
        ? { lora: { adapters: [{ filePath: options.adapterPath, scale: options.adapterScale ?? 1 }] } }
        : {}),
    });
  } catch (err) {
    await model.dispose();
    throw new InputError(`llama.cpp cannot create a context: ${(err as Error).message}`, {
      file: options.adapterPath ?? options.modelPath,
    });
  }
  const md = model.fileInfo.metadata as unknown as {
    general?: { architecture?: string; name?: string };
    tokenizer?: { chat_template?: string };
  };
  let vocabSize = 0;
  for (const _token of model.iterateAllTokens()) vocabSize++;
  const info: LoadedModelInfo = {
    modelPath: options.modelPath,
    ...(options.adapterPath
      ? { adapterPath: options.adapterPath, adapterScale: options.adapterScale ?? 1 }
      : {}),
    fileBytes,
    architecture: md.general?.architecture ?? "unknown",
    name: md.general?.name ?? options.modelPath.split("/").pop()!,
    vocabSize,
    contextSize: context.contextSize,
    ...(typeof md.tokenizer?.chat_template === "string" ? { chatTemplate: md.tokenizer.chat_template } : {}),
    bosText: model.tokens.bosString ?? "",
    eosText: model.tokens.eosString ?? "",
  };
  return new LoadedModel(llama, model, context, context.getSequence(), info);
}

function fileSize(path: string, what: string): number {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a file");
    return st.size;
  } catch {
    throw new InputError(`${what} file not found`, { file: path });
  }
}
