// Chat templates: the 35 real templates in ../shared/data/chat-templates render a 3-turn conversation, and
// the ChatML (Qwen), Gemma and Llama 3 templates give exactly the published prompt formats (written out
// by hand below). Tool calls, content parts and helpers are checked with small templates written here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { sharedDir } from "../../lib/util/paths.js";
import { ChatTemplateError, renderChat, strftime, type ChatMessage } from "../../lib/chat/index.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";

/** The templates file: one JSON object per line, {"<format name>": "<jinja template>"}. */
function loadTemplates(): { name: string; template: string }[] {
  const text = readFileSync(join(shared!, "data/chat-templates/chat-templates.jsonl"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [name, template] = Object.entries(JSON.parse(line) as Record<string, string>)[0];
      return { name, template };
    });
}

const USER1 = "Hello there!";
const ASSISTANT1 = "Hi! How can I help?";
const USER2 = "Tell me a joke.";
const SYSTEM = "You are a pirate.";
const THREE_TURNS: ChatMessage[] = [
  { role: "user", content: USER1 },
  { role: "assistant", content: ASSISTANT1 },
  { role: "user", content: USER2 },
];
const WITH_SYSTEM: ChatMessage[] = [{ role: "system", content: SYSTEM }, ...THREE_TURNS];
const TOKENS = { bosToken: "<s>", eosToken: "</s>" };

/** Templates that refuse a system message on purpose (their own raise_exception message). */
const REFUSE_SYSTEM: Record<number, RegExp> = {
  10: /Conversation roles must alternate/, // mistral-instruct: only user/assistant, strictly alternating
  11: /System messages are not allowed/, // starcoder2-instruct
  14: /Conversation roles must alternate/, // mistral-instruct
  21: /System role not supported/, // gemma-instruct
  24: /System messages are not allowed/, // magicoder
};
/** Templates that silently leave the system message out (they only handle user/assistant roles). */
const DROP_SYSTEM = new Set([
  9, // zephyr variant: renders user and assistant only
  27, // phi-3: user/assistant only
  28, // phi-3: user/assistant only
  30, // chatqa: skips messages[0] when it is a system message and prints its own fixed system text
]);

describe("the 35 real chat templates", { skip }, () => {
  test("there are 35 templates", () => assert.equal(loadTemplates().length, 35));

  test("every template renders a 3-turn conversation; user and assistant texts appear", () => {
    for (const [i, { name, template }] of loadTemplates().entries()) {
      for (const addGenerationPrompt of [false, true]) {
        const out = renderChat(template, THREE_TURNS, { ...TOKENS, addGenerationPrompt });
        for (const text of [USER1, ASSISTANT1, USER2])
          assert.ok(out.includes(text), `#${i} ${name}: ${text} missing in ${JSON.stringify(out)}`);
      }
    }
  });

  test("with a system message: rendered, refused with the template's own reason, or dropped (as listed)", () => {
    for (const [i, { name, template }] of loadTemplates().entries()) {
      if (REFUSE_SYSTEM[i]) {
        assert.throws(
          () => renderChat(template, WITH_SYSTEM, TOKENS),
          (e: Error) => e instanceof ChatTemplateError && REFUSE_SYSTEM[i].test(e.message),
          `#${i} ${name}`,
        );
        continue;
      }
      const out = renderChat(template, WITH_SYSTEM, { ...TOKENS, addGenerationPrompt: true });
      assert.equal(out.includes(SYSTEM), !DROP_SYSTEM.has(i), `#${i} ${name}: ${JSON.stringify(out)}`);
      assert.ok(out.includes(USER2), `#${i} ${name}`);
    }
  });

  test("ChatML (Qwen): exact prompt", () => {
    const qwen = loadTemplates()[7].template;
    assert.equal(
      renderChat(qwen, WITH_SYSTEM, { addGenerationPrompt: true }),
      "<|im_start|>system\nYou are a pirate.<|im_end|>\n" +
        "<|im_start|>user\nHello there!<|im_end|>\n" +
        "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n" +
        "<|im_start|>user\nTell me a joke.<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
    // No system message: Qwen's default one is added.
    assert.ok(
      renderChat(qwen, THREE_TURNS).startsWith(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
      ),
    );
  });

  test("Gemma: exact prompt (assistant is 'model', content trimmed)", () => {
    const gemma = loadTemplates()[21].template;
    const messages: ChatMessage[] = [{ role: "user", content: `  ${USER1}\n` }, ...THREE_TURNS.slice(1)];
    assert.equal(
      renderChat(gemma, messages, { bosToken: "<bos>", addGenerationPrompt: true }),
      "<bos><start_of_turn>user\nHello there!<end_of_turn>\n" +
        "<start_of_turn>model\nHi! How can I help?<end_of_turn>\n" +
        "<start_of_turn>user\nTell me a joke.<end_of_turn>\n" +
        "<start_of_turn>model\n",
    );
  });

  test("Llama 3: exact prompt", () => {
    const llama3 = loadTemplates()[22].template;
    assert.equal(
      renderChat(llama3, WITH_SYSTEM, { bosToken: "<|begin_of_text|>", addGenerationPrompt: true }),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a pirate.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nHello there!<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help?<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });
});

// A small tool-calling template in the style of Qwen 2.5's (written here): tools as JSON, tool call
// arguments through `tojson`, tool results by role.
const TOOL_TEMPLATE =
  "{% if tools %}TOOLS:{% for t in tools %}{{ t.function.name }}{% if not loop.last %},{% endif %}{% endfor %}\n{% endif %}" +
  "{% for m in messages %}[{{ m.role }}]" +
  "{% if m.tool_calls %}{% for c in m.tool_calls %}CALL {{ c.function.name }} {{ c.function.arguments | tojson }}{% endfor %}" +
  "{% elif m.role == 'tool' %}RESULT({{ m.tool_call_id }}) {{ m.content }}" +
  "{% else %}{{ m.content }}{% endif %}\n{% endfor %}";

describe("message normalisation and helpers", () => {
  const weather = {
    type: "function" as const,
    function: { name: "get_weather", parameters: { type: "object" } },
  };
  const conversation = (args: string | Record<string, unknown>): ChatMessage[] => [
    { role: "user", content: "Weather in Lima?" },
    {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: args } }],
    },
    { role: "tool", tool_call_id: "call_1", content: '{"temp": 18}' },
    { role: "assistant", content: "18 °C in Lima." },
  ];

  test("tool-call arguments given as a JSON string or an object render the same", () => {
    // (trim_blocks, as transformers compiles templates, drops the newline after each block tag.)
    const expected =
      "TOOLS:get_weather[user]Weather in Lima?" +
      '[assistant]CALL get_weather {"city": "Lima", "days": 2}' +
      '[tool]RESULT(call_1) {"temp": 18}[assistant]18 °C in Lima.';
    const fromString = renderChat(TOOL_TEMPLATE, conversation('{"city":"Lima","days":2}'), {
      tools: [weather],
    });
    const fromObject = renderChat(TOOL_TEMPLATE, conversation({ city: "Lima", days: 2 }), {
      tools: [weather],
    });
    assert.equal(fromString, expected);
    assert.equal(fromObject, expected);
    // "string" mode: templates that print the arguments as they are get the JSON text.
    const asString = renderChat(
      "{{ messages[1].tool_calls[0].function.arguments }}",
      conversation({ city: "Lima" }),
      { toolArguments: "string" },
    );
    assert.equal(asString, '{"city":"Lima"}');
    assert.throws(() => renderChat(TOOL_TEMPLATE, conversation("{not json")), /not valid JSON/);
  });

  test("tools is none when absent (templates test `tools is none` / `if tools`)", () => {
    assert.equal(renderChat("{{ tools is none }}|{{ tools is defined }}", THREE_TURNS), "true|true");
    assert.equal(renderChat("{% if tools %}T{% else %}-{% endif %}", THREE_TURNS, { tools: [weather] }), "T");
  });

  test("text parts are joined; image parts reach multimodal templates as {type: 'image'}", () => {
    const parts: ChatMessage[] = [
      {
        role: "user",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "b" },
        ],
      },
    ];
    assert.equal(renderChat("{{ messages[0].content }}", parts), "a\nb");
    const withImage: ChatMessage[] = [
      {
        role: "user",
        content: [
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          { type: "text", text: "What is it?" },
        ],
      },
    ];
    const gemma3Like =
      "{% for item in messages[0].content %}{% if item.type == 'image' %}<start_of_image>{% else %}{{ item.text }}{% endif %}{% endfor %}";
    assert.equal(renderChat(gemma3Like, withImage), "<start_of_image>What is it?");
  });

  test("raise_exception and render errors are ChatTemplateErrors; strftime_now uses opts.now", () => {
    assert.throws(
      () => renderChat("{{ raise_exception('nope') }}", THREE_TURNS),
      (e: Error) => e instanceof ChatTemplateError && /nope/.test(e.message),
    );
    assert.throws(() => renderChat("{% for %}", THREE_TURNS), ChatTemplateError);
    const now = new Date(2024, 6, 26, 9, 5, 7);
    assert.equal(renderChat("{{ strftime_now('%d %b %Y') }}", THREE_TURNS, { now }), "26 Jul 2024");
    assert.equal(strftime(now, "%Y-%m-%d %H:%M:%S %A %j %%"), "2024-07-26 09:05:07 Friday 208 %");
  });

  test("extra variables and namespace/range built-ins", () => {
    const t =
      "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}{{ enable_thinking }}";
    assert.equal(renderChat(t, THREE_TURNS, { extra: { enable_thinking: false } }), "3false");
  });
});
