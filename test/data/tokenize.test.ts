import { test } from "node:test";
import assert from "node:assert/strict";
import type { Tokenizer } from "../../lib/tokenizer/types.js";
import { packRecords, tokenizeDataset, tokenizeRecord, type RenderFn, type TokenizedRecord } from "../../lib/data/tokenize.js";
import type { ChatRecord } from "../../lib/data/record.js";
import { jinjaRender, llamaCppTokenizer, llamaWithSpecials, shared, sharedTemplate } from "./helpers.js";

const skip = !shared && "../shared is absent";

const record: ChatRecord = {
  messages: [
    { role: "user", content: "¿Cuál es la capital de Colombia? ☕" },
    { role: "assistant", content: "Bogotá, «sí»." },
    { role: "user", content: "¿Y de Perú?" },
    { role: "assistant", content: "Lima." },
  ],
};

// The three real templates of ../shared/data/chat-templates (line numbers of chat-templates.jsonl), the
// chat markers the real models have as special tokens, and the hand-written split of the rendered
// conversation into prompt (0) and trained (1) runs.
const CASES = [
  {
    line: 6,
    format: "chatml",
    specials: ["<|im_start|>", "<|im_end|>"],
    runs: [
      [0, "<|im_start|>user\n¿Cuál es la capital de Colombia? ☕<|im_end|>\n<|im_start|>assistant\n"],
      [1, "Bogotá, «sí».<|im_end|>\n"],
      [0, "<|im_start|>user\n¿Y de Perú?<|im_end|>\n<|im_start|>assistant\n"],
      [1, "Lima.<|im_end|>\n"],
    ],
  },
  {
    line: 21,
    format: "gemma-instruct",
    specials: ["<start_of_turn>", "<end_of_turn>"],
    runs: [
      [0, "<start_of_turn>user\n¿Cuál es la capital de Colombia? ☕<end_of_turn>\n<start_of_turn>model\n"],
      [1, "Bogotá, «sí».<end_of_turn>\n"],
      [0, "<start_of_turn>user\n¿Y de Perú?<end_of_turn>\n<start_of_turn>model\n"],
      [1, "Lima.<end_of_turn>\n"],
    ],
  },
  {
    line: 22,
    format: "llama3-instruct",
    specials: ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    runs: [
      [0, "<|start_header_id|>user<|end_header_id|>\n\n¿Cuál es la capital de Colombia? ☕<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"],
      [1, "Bogotá, «sí».<|eot_id|>"],
      [0, "<|start_header_id|>user<|end_header_id|>\n\n¿Y de Perú?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"],
      [1, "Lima.<|eot_id|>"],
    ],
  },
] as const;

/** Splits a tokenized record into runs of equal mask, decoded (without BOS). */
function runs(t: TokenizedRecord, tok: Tokenizer, normalize = (s: string) => s): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let start = t.ids[0] === tok.bos ? 1 : 0;
  for (let i = start + 1; i <= t.ids.length; i++) {
    if (i === t.ids.length || t.mask[i] !== t.mask[start]) {
      out.push([t.mask[start]!, normalize(tok.decode(t.ids.slice(start, i)))]);
      start = i;
    }
  }
  return out;
}

// SentencePiece (Llama 2) inserts its dummy space after every control token (llama.cpp's add_space_prefix
// after specials); decoding shows it, the chat templates do not have it.
const dropSpaceAfter = (specials: readonly string[]) => (s: string) => specials.reduce((acc, sp) => acc.split(sp + " ").join(sp), s.replace(/^ /, ""));

function check(t: TokenizedRecord, tok: Tokenizer, bos: boolean) {
  const whole = tok.encode(t.text, { parseSpecial: true });
  assert.deepEqual(t.ids, bos && whole[0] !== tok.bos ? [tok.bos!, ...whole] : whole, "ids are the tokenization of the whole rendered text");
  assert.equal(t.mask.length, t.ids.length);
}

test("assistant-only masks, token by token, with the chat markers as special tokens (ChatML, Gemma, Llama 3)", { skip }, () => {
  for (const c of CASES) {
    const { name, template } = sharedTemplate(c.line);
    assert.equal(name, c.format);
    const tok = llamaWithSpecials([...c.specials], c.specials[c.specials.length - 1]);
    const t = tokenizeRecord(record, { tokenizer: tok, render: jinjaRender(template) });
    assert.ok(!("dropped" in t));
    check(t, tok, true);
    assert.equal(t.inexactBoundaries, 0, c.format);
    assert.deepEqual(runs(t, tok, dropSpaceAfter(c.specials)), c.runs, c.format);
    // Every trained token is assistant text or the end-of-turn marker; the marker itself is trained.
    const eot = tok.encode(c.specials[c.specials.length - 1]!, { parseSpecial: true })[0]!;
    assert.equal(t.ids.filter((id, i) => id === eot && t.mask[i] === 1).length, 2, c.format);
  }
});

test("assistant-only masks with node-llama-cpp's tokenizer (real Llama 2 vocabulary, markers as plain text)", { skip }, async () => {
  const { tokenizer: tok, dispose } = await llamaCppTokenizer();
  try {
    for (const c of CASES) {
      const t = tokenizeRecord(record, { tokenizer: tok, render: jinjaRender(sharedTemplate(c.line).template) });
      assert.ok(!("dropped" in t));
      check(t, tok, true);
      const got = runs(t, tok, (s) => s.replace(/^ /, ""));
      if (c.format !== "llama3-instruct") {
        assert.equal(t.inexactBoundaries, 0, c.format);
        assert.deepEqual(got, c.runs, c.format);
      } else {
        // Without special tokens SentencePiece merges "><" across "<|eot_id|><|start_header_id|>": the
        // straddling token is trained (every token holding an assistant character is) and reported.
        assert.equal(t.inexactBoundaries, 1);
        assert.deepEqual(got, [
          c.runs[0],
          [1, "Bogotá, «sí».<|eot_id|><"],
          [0, "|start_header_id|>user<|end_header_id|>\n\n¿Y de Perú?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"],
          c.runs[3],
        ]);
      }
    }
  } finally {
    await dispose();
  }
});

test("EOS after the last message only (a real ChatML variant): earlier turns end at the end-of-turn marker", { skip }, () => {
  const { template } = sharedTemplate(3);
  const tok = llamaWithSpecials(["<|im_start|>", "<|im_end|>"], "<|im_end|>");
  const t = tokenizeRecord(record, { tokenizer: tok, render: jinjaRender(template, "<s>", "</s>") });
  assert.ok(!("dropped" in t));
  check(t, tok, true);
  assert.deepEqual(runs(t, tok, dropSpaceAfter(["<|im_start|>", "<|im_end|>"])), [
    [0, "<|im_start|>user\n¿Cuál es la capital de Colombia? ☕<|im_end|>\n<|im_start|>assistant\n"],
    [1, "Bogotá, «sí».<|im_end|>"],
    [0, "\n<|im_start|>user\n¿Y de Perú?<|im_end|>\n<|im_start|>assistant\n"],
    [1, "Lima.<|im_end|>\n</s>"],
  ]);
});

// A ChatML template with tools, written for this test in the way Qwen's render tool calls and results.
const TOOL_TEMPLATE = `{%- for m in messages -%}
{%- if m.role == 'assistant' -%}<|im_start|>assistant
{% if m.content %}{{ m.content }}{% endif %}{% for c in m.tool_calls or [] %}<tool_call>
{{ {'name': c.function.name, 'arguments': c.function.arguments} | tojson }}
</tool_call>{% endfor %}<|im_end|>
{% elif m.role == 'tool' -%}<|im_start|>user
<tool_response>
{{ m.content }}
</tool_response><|im_end|>
{% else -%}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif -%}`;

// Like Qwen3: the last assistant turn gets an (empty) reasoning block, earlier ones do not.
const THINK_TEMPLATE = `{%- for m in messages -%}<|im_start|>{{ m.role }}
{% if m.role == 'assistant' and loop.last %}<think>

</think>

{% endif %}{{ m.content }}<|im_end|>
{% endfor -%}{%- if add_generation_prompt %}<|im_start|>assistant
{% endif -%}`;

test("tool calls and their end-of-turn are trained, tool results are not; a template that re-renders the last turn", { skip }, () => {
  const tok = llamaWithSpecials(["<|im_start|>", "<|im_end|>"], "<|im_end|>");
  const norm = dropSpaceAfter(["<|im_start|>", "<|im_end|>"]);
  const rec: ChatRecord = {
    messages: [
      { role: "system", content: "Asistente de finca." },
      { role: "user", content: "¿Cuánta urea hay?" },
      { role: "assistant", content: null, tool_calls: [{ id: "c0", type: "function", function: { name: "inventario_consulta", arguments: { producto: "urea" } } }] },
      { role: "tool", tool_call_id: "c0", content: '{"bultos": 4}' },
      { role: "assistant", content: "Quedan 4 bultos." },
    ],
  };
  const t = tokenizeRecord(rec, { tokenizer: tok, render: jinjaRender(TOOL_TEMPLATE) });
  assert.ok(!("dropped" in t));
  check(t, tok, true);
  assert.deepEqual(runs(t, tok, norm), [
    [0, "<|im_start|>system\nAsistente de finca.<|im_end|>\n<|im_start|>user\n¿Cuánta urea hay?<|im_end|>\n<|im_start|>assistant\n"],
    [1, '<tool_call>\n{"name": "inventario_consulta", "arguments": {"producto": "urea"}}\n</tool_call><|im_end|>\n'],
    [0, '<|im_start|>user\n<tool_response>\n{"bultos": 4}\n</tool_response><|im_end|>\n<|im_start|>assistant\n'],
    [1, "Quedan 4 bultos.<|im_end|>\n"],
  ]);
  const q = tokenizeRecord(record, { tokenizer: tok, render: jinjaRender(THINK_TEMPLATE) });
  assert.ok(!("dropped" in q));
  check(q, tok, true);
  assert.deepEqual(runs(q, tok, norm), [
    [0, "<|im_start|>user\n¿Cuál es la capital de Colombia? ☕<|im_end|>\n<|im_start|>assistant\n"],
    [1, "Bogotá, «sí».<|im_end|>"],
    [0, "\n<|im_start|>user\n¿Y de Perú?<|im_end|>\n<|im_start|>assistant\n"],
    [1, "<think>\n\n</think>\n\nLima.<|im_end|>\n"],
  ]);
});

test("trainOn all, raw text records, and truncation that never cuts inside a trained turn", { skip }, () => {
  const tok = llamaWithSpecials(["<|im_start|>", "<|im_end|>"], "<|im_end|>");
  const render: RenderFn = jinjaRender(sharedTemplate(6).template);
  const full = tokenizeRecord(record, { tokenizer: tok, render });
  assert.ok(!("dropped" in full));
  const all = tokenizeRecord(record, { tokenizer: tok, render, trainOn: "all" });
  assert.ok(!("dropped" in all));
  assert.deepEqual(all.ids, full.ids);
  assert.deepEqual(all.mask, full.mask.map((_, i) => (i === 0 ? 0 : 1)));
  const text = tokenizeRecord({ messages: [], text: "Érase una vez un cafetal." }, { tokenizer: tok, render });
  assert.ok(!("dropped" in text));
  assert.deepEqual(text.ids, [tok.bos!, ...tok.encode("Érase una vez un cafetal."), tok.eos!]);
  assert.deepEqual(text.mask, text.ids.map((_, i) => (i === 0 ? 0 : 1)));

  const firstEnd = full.mask.lastIndexOf(1, full.mask.indexOf(0, full.mask.indexOf(1))) + 1; // end of turn 1
  const n = full.ids.length;
  const cut = tokenizeRecord(record, { tokenizer: tok, render, maxSeq: n - 1 });
  assert.ok(!("dropped" in cut));
  assert.equal(cut.ids.length, firstEnd);
  assert.equal(cut.truncatedTokens, n - firstEnd);
  assert.deepEqual(cut.mask, full.mask.slice(0, firstEnd));
  const tooShort = tokenizeRecord(record, { tokenizer: tok, render, maxSeq: firstEnd - 1 });
  assert.ok("dropped" in tooShort && /first assistant turn ends after max-seq/.test(tooShort.reason));
  assert.ok("dropped" in tokenizeRecord(record, { tokenizer: tok, render, maxSeq: n - 1, truncation: "drop" }));
  assert.throws(() => tokenizeRecord(record, { tokenizer: tok, render, maxSeq: n - 1, truncation: "error" }), new RegExp(`record has ${n} tokens, more than --max-seq ${n - 1}`));
  assert.equal((tokenizeRecord(record, { tokenizer: tok, render, maxSeq: n }) as TokenizedRecord).truncatedTokens, 0);
  const ds = tokenizeDataset([record, { messages: [{ role: "user", content: "x".repeat(400) }, { role: "assistant", content: "y" }] }, record], { tokenizer: tok, render, maxSeq: n - 1 });
  assert.deepEqual([ds.records.length, ds.dropped.map((d) => d.index), ds.truncated], [2, [1], 2]);
  assert.equal(ds.tokens, 2 * firstEnd);
  assert.equal(ds.trainedTokens, 2 * cut.mask.filter((m) => m === 1).length);
});

test("packing: first-fit rows with segment ids and positions per record, padding masked", () => {
  const r = (n: number, base: number) => ({ ids: Array.from({ length: n }, (_, i) => base + i), mask: Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 1)) as Array<0 | 1> });
  const rows = packRecords([r(5, 10), r(4, 20), r(3, 30), r(2, 40)], { seqLen: 8, padId: 0 });
  assert.deepEqual(rows, [
    { ids: [10, 11, 12, 13, 14, 30, 31, 32], mask: [0, 1, 1, 1, 1, 0, 1, 1], segments: [1, 1, 1, 1, 1, 2, 2, 2], positions: [0, 1, 2, 3, 4, 0, 1, 2] },
    { ids: [20, 21, 22, 23, 40, 41, 0, 0], mask: [0, 1, 1, 1, 0, 1, 0, 0], segments: [1, 1, 1, 1, 2, 2, 0, 0], positions: [0, 1, 2, 3, 0, 1, 0, 0] },
  ]);
  assert.equal(packRecords([r(5, 10), r(3, 30)], { seqLen: 8, padId: 0, pack: false }).length, 2);
  assert.throws(() => packRecords([r(9, 0)], { seqLen: 8, padId: 0 }), /a record of 9 tokens does not fit rows of 8/);
});
