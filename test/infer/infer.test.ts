// llama.cpp inference helpers on the tiny random Llama: log-probs agree with full logit rows, greedy
// generation follows the argmax of the logits, seeds reproduce, stop strings cut, a LoRA adapter changes
// the logits (and scale 0 does not), tool-call parsing and template tool formats.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedDir } from "../../lib/util/paths.js";
import { loadModel, type LoadedModel } from "../../lib/infer/model.js";
import { complete, generateFromTokens } from "../../lib/infer/generate.js";
import { nextTokenLogits, textNll, tokenLogProbs } from "../../lib/infer/scoring.js";
import { parseToolCalls } from "../../lib/infer/tool-calls.js";
import { renderChatPrompt, toolCallFormat } from "../../lib/infer/chat-prompt.js";
import { toGbnfSchema } from "../../lib/infer/grammar.js";
import { klFromLogits, logSoftmax } from "../../lib/eval/metrics/index.js";
import { writeTinyLoraAdapter } from "../helpers/tiny-lora.js";

const shared = sharedDir();
const modelPath = shared && join(shared, "models/tiny-random-llama/llama-2-tiny-random.gguf");
const skip = !shared && "../shared is absent";
let m: LoadedModel;

before(async () => {
  if (modelPath) m = await loadModel({ modelPath, contextSize: 256, threads: 1 });
});
after(async () => {
  await m?.dispose();
});

const argmax = (a: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
};

test("log-probs from filtered logits equal log-softmax of the full logit rows", { skip }, async () => {
  const tokens = m.withBos(m.tokenize("The little dog ran to the park.", false));
  const lp = await m.exclusive(() => tokenLogProbs(m, tokens));
  const rows = await m.exclusive(() => nextTokenLogits(m, tokens));
  assert.equal(rows[0].length, 32000);
  assert.equal(lp.length, tokens.length - 1);
  for (let i = 0; i < lp.length; i++)
    assert.ok(Math.abs(lp[i] - logSoftmax(rows[i])[tokens[i + 1]]) < 1e-4, `position ${i}`);
  // random weights: close to the uniform distribution over 32000 tokens
  const nll = await textNll(m, "The little dog ran to the park. ".repeat(8), { windowTokens: 32 });
  assert.ok(Math.abs(nll.meanNll - Math.log(32000)) < 0.3, `mean NLL ${nll.meanNll}`);
});

test("greedy generation follows the argmax of llama.cpp's logits", { skip }, async () => {
  const prompt = m.withBos(m.tokenize("Once upon a time", false));
  const r = await m.exclusive(() => generateFromTokens(m, prompt, { maxTokens: 6 }));
  assert.equal(r.completionTokens, 6);
  const seq = [...prompt];
  for (const t of r.tokens) {
    const rows = await m.exclusive(() => nextTokenLogits(m, seq));
    assert.equal(t, argmax(rows[rows.length - 1]));
    seq.push(t);
  }
});

test("seeded sampling reproduces; stop strings cut the text", { skip }, async () => {
  const a = await complete(m, "Hello", { maxTokens: 12, temperature: 1, seed: 3 });
  const b = await complete(m, "Hello", { maxTokens: 12, temperature: 1, seed: 3 });
  assert.equal(a.text, b.text);
  const full = await complete(m, "Hello", { maxTokens: 12 });
  const cut = full.text.slice(4, 8);
  const stopped = await complete(m, "Hello", { maxTokens: 12, stop: [cut] });
  assert.equal(stopped.text, full.text.slice(0, full.text.indexOf(cut)));
  assert.equal(stopped.finishReason, "stop");
  const streamed: string[] = [];
  const s = await complete(m, "Hello", { maxTokens: 12, onText: (d) => streamed.push(d) });
  assert.equal(streamed.join(""), s.text);
});

test("a LoRA adapter changes llama.cpp's logits; scale 0 leaves them unchanged", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "tunekit-lora-"));
  const adapterPath = join(dir, "adapter.gguf");
  await writeTinyLoraAdapter(adapterPath);
  const tokens = m.withBos(m.tokenize("A small test sentence", false));
  const base = await m.exclusive(() => nextTokenLogits(m, tokens));
  for (const [scale, changed] of [
    [1, true],
    [0, false],
  ] as const) {
    const withAdapter = await loadModel({
      modelPath: modelPath!,
      adapterPath,
      adapterScale: scale,
      contextSize: 64,
      threads: 1,
    });
    try {
      const rows = await withAdapter.exclusive(() => nextTokenLogits(withAdapter, tokens));
      const kl = rows.reduce((s, r, i) => s + klFromLogits(base[i], r), 0) / rows.length;
      if (changed) assert.ok(kl > 1e-3, `KL with the adapter is ${kl}`);
      else assert.ok(kl < 1e-9, `KL at scale 0 is ${kl}`);
    } finally {
      await withAdapter.dispose();
    }
  }
});

test("tool calls are found in the formats models write", () => {
  const hermes = parseToolCalls(
    'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lima"}}\n</tool_call>',
  );
  assert.equal(hermes.calls.length, 1);
  assert.equal(hermes.calls[0].function.name, "get_weather");
  assert.deepEqual(JSON.parse(hermes.calls[0].function.arguments as string), { city: "Lima" });
  assert.equal(hermes.content, "Sure.");
  const llama31 = parseToolCalls('{"name": "search", "parameters": {"q": "café"}}');
  assert.deepEqual(JSON.parse(llama31.calls[0].function.arguments as string), { q: "café" });
  const mistral = parseToolCalls(
    '[TOOL_CALLS] [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]',
  );
  assert.deepEqual(
    mistral.calls.map((c) => c.function.name),
    ["a", "b"],
  );
  const caficul = parseToolCalls('{"tool": "inventario_consulta", "argumentos": "producto=fertilizante"}');
  assert.deepEqual(JSON.parse(caficul.calls[0].function.arguments as string), { producto: "fertilizante" });
  const broken = parseToolCalls('<tool_call>{"name": "a", "arguments": {"x": </tool_call>');
  assert.equal(broken.calls.length, 0);
  assert.equal(broken.invalid, true);
  const prose = parseToolCalls("La roya se controla con variedades resistentes {no json here}.");
  assert.equal(prose.calls.length, 0);
  assert.equal(prose.invalid, false);
});

test("the tool-call format is read from the template; templates without tools get a system message", () => {
  const hermes =
    "{% if tools %}<|im_start|>system\n<tools>{{ tools | tojson }}</tools><|im_end|>\n{% endif %}" +
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>\n" +
    '{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}\n</tool_call>{% endfor %}' +
    "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}" +
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  assert.deepEqual(toolCallFormat({ chatTemplate: hermes, bosText: "", eosText: "" }), {
    prefix: "<tool_call>\n",
    argumentsKey: "arguments",
  });
  const llama31 = hermes.replace('"arguments"', '"parameters"').replace("<tool_call>\n", "<|python_tag|>");
  assert.deepEqual(toolCallFormat({ chatTemplate: llama31, bosText: "", eosText: "" }), {
    prefix: "<|python_tag|>",
    argumentsKey: "parameters",
  });
  const tools = [{ type: "function" as const, function: { name: "f", parameters: { type: "object" } } }];
  const plain = renderChatPrompt(
    { bosText: "<s>", eosText: "</s>" },
    { messages: [{ role: "user", content: "hi" }], tools },
  );
  assert.match(plain, /^<\|im_start\|>system\nYou can call the following tools/);
  assert.match(plain, /<\|im_start\|>assistant\n$/);
});

test("JSON schemas are reduced to what node-llama-cpp's grammar generator accepts", () => {
  assert.deepEqual(toGbnfSchema({ type: "object" }), { type: "object", additionalProperties: true });
  assert.deepEqual(
    toGbnfSchema({
      anyOf: [
        { type: "string", pattern: "^a" },
        { type: "integer", minimum: 3 },
      ],
    }),
    {
      oneOf: [{ type: "string" }, { type: "integer" }],
    },
  );
  assert.deepEqual(toGbnfSchema({ type: ["string", "null"] }), { type: ["string", "null"] });
  assert.deepEqual(toGbnfSchema({ $ref: "#/definitions/x", definitions: { x: { const: 1 } } }), {
    $defs: { x: { const: 1 } },
    $ref: "#/$defs/x",
  });
});
