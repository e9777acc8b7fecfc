// `tunekit chat`: an interactive terminal chat with a GGUF model (+ adapter). Replies stream as they are
// generated. Commands: /reset (forget the conversation), /system TEXT (set the system prompt), /exit.
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { ChatMessage } from "../chat/types.js";
import { chat } from "../infer/chat.js";
import type { LoadedModel } from "../infer/model.js";

/** Options of {@link runChatRepl}. */
export interface ChatReplOptions {
  model: LoadedModel;
  /** System prompt at the start of the conversation. */
  system?: string;
  /** Most tokens per reply. Default 512. */
  maxTokens?: number;
  /** Sampling temperature. Default 0.7. */
  temperature?: number;
  /** Sampler seed. */
  seed?: number;
  /** Where lines come from and replies go. Default: stdin / stdout. */
  input?: Readable;
  output?: Writable;
}

/** Runs the chat loop until /exit or end of input; returns the conversation. */
export async function runChatRepl(o: ChatReplOptions): Promise<ChatMessage[]> {
  const output = o.output ?? process.stdout;
  const rl = createInterface({
    input: o.input ?? process.stdin,
    output,
    terminal: !o.input && process.stdin.isTTY,
  });
  let system = o.system;
  let history: ChatMessage[] = [];
  const write = (s: string) => output.write(s);
  write(
    `chat with ${o.model.info.name} (${o.model.info.contextSize} tokens of context). /reset, /system TEXT, /exit\n`,
  );
  // Iterating the interface buffers lines that arrive while a reply is generated (piped input).
  const lines = rl[Symbol.asyncIterator]();
  try {
    for (;;) {
      write("> ");
      const next = await lines.next();
      if (next.done) break; // input closed
      const text = next.value.trim();
      if (text === "") continue;
      if (text === "/exit" || text === "/quit") break;
      if (text === "/reset") {
        history = [];
        write("(conversation cleared)\n");
        continue;
      }
      if (text.startsWith("/system")) {
        system = text.slice("/system".length).trim() || undefined;
        history = [];
        write(system ? "(system prompt set; conversation cleared)\n" : "(system prompt removed)\n");
        continue;
      }
      history.push({ role: "user", content: text });
      const messages: ChatMessage[] = [
        ...(system ? [{ role: "system" as const, content: system }] : []),
        ...history,
      ];
      try {
        const r = await chat(o.model, messages, {
          maxTokens: o.maxTokens ?? 512,
          temperature: o.temperature ?? 0.7,
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          onText: write,
        });
        write(
          `\n[${r.completionTokens} tokens, ${r.decodeTokensPerSecond.toFixed(1)} tok/s${r.finishReason === "length" ? ", cut at max tokens" : ""}]\n`,
        );
        history.push({
          role: "assistant",
          content: typeof r.message.content === "string" ? r.message.content : "",
        });
      } catch (err) {
        history.pop();
        write(`\nerror: ${(err as Error).message}\n`);
      }
    }
  } finally {
    rl.close();
  }
  return history;
}
