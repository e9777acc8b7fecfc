// renderChat against llama.cpp's own Jinja engine (the native renderer node-llama-cpp bundles) on the 35
// real templates: the same prompt text, or an error from both.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { sharedDir } from "../../lib/util/paths.js";
import { renderChat, templateMessages, type ChatMessage } from "../../lib/chat/index.js";

const shared = sharedDir();

type NativeRenderer = new (template: string) => { render(items: Record<string, unknown>): string };
let Native: NativeRenderer | undefined;

before(async () => {
  const llama = (await getLlamaCpp()) as unknown as { _bindings?: { AddonJinjaRenderer?: NativeRenderer } };
  Native = llama._bindings?.AddonJinjaRenderer;
});

const MESSAGES: ChatMessage[] = [
  { role: "system", content: "You are a pirate." },
  { role: "user", content: "Hello there!" },
  { role: "assistant", content: "  Hi! How can I help?\n" },
  { role: "user", content: "Tell me a joke." },
];

test(
  "the 35 templates render the same text as llama.cpp's Jinja engine",
  { skip: !shared && "../shared is absent" },
  (t) => {
    // node-llama-cpp keeps its native renderer on an internal binding; without it there is nothing to compare.
    if (!Native) return t.skip("node-llama-cpp exposes no native Jinja renderer");
    const lines = readFileSync(join(shared!, "data/chat-templates/chat-templates.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.equal(lines.length, 35);
    let compared = 0;
    for (const [i, line] of lines.entries()) {
      const [name, template] = Object.entries(JSON.parse(line) as Record<string, string>)[0];
      for (const messages of [MESSAGES, MESSAGES.slice(1)]) {
        for (const addGenerationPrompt of [false, true]) {
          const items = {
            messages: templateMessages(messages),
            add_generation_prompt: addGenerationPrompt,
            bos_token: "<s>",
            eos_token: "</s>",
            tools: null,
          };
          let theirs: string | Error;
          try {
            theirs = new Native(template).render(items);
          } catch (err) {
            theirs = err as Error;
          }
          const where = `#${i} ${name} (${messages.length} messages, generation prompt ${addGenerationPrompt})`;
          if (theirs instanceof Error) {
            // Both refuse, for the template's own reason.
            const reason = /Jinja Exception: (.*)/.exec(theirs.message)?.[1] ?? theirs.message;
            assert.throws(
              () =>
                renderChat(template, messages, { addGenerationPrompt, bosToken: "<s>", eosToken: "</s>" }),
              (e: Error) => e.message.includes(reason),
              where,
            );
          } else {
            assert.equal(
              renderChat(template, messages, { addGenerationPrompt, bosToken: "<s>", eosToken: "</s>" }),
              theirs,
              where,
            );
          }
          compared++;
        }
      }
    }
    assert.equal(compared, 140);
  },
);
