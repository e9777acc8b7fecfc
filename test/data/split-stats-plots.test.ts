import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../lib/data/random.js";
import { dedupe, sampleItems, splitTrainEval } from "../../lib/data/split.js";
import { classBalance, histogram, recordLengths, summarize } from "../../lib/data/stats.js";
import { classBalanceChart, examplesTable, lengthHistogram, maskHtml } from "../../lib/data/plots.js";
import type { ChatRecord } from "../../lib/data/record.js";
import { join } from "node:path";

test("seeded random: uniform in [0, 1), reproducible, shuffles are permutations", () => {
  const a = new SeededRandom(42);
  const xs = Array.from({ length: 20000 }, () => a.next());
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  assert.deepEqual(new SeededRandom(42).shuffle([1, 2, 3, 4, 5]), new SeededRandom(42).shuffle([1, 2, 3, 4, 5]));
  assert.deepEqual(new SeededRandom(1).shuffle([...Array(50).keys()]).sort((x, y) => x - y), [...Array(50).keys()]);
});

test("split, stratified: every class gives round(its count × fraction) to eval; unlabelled items split apart; deterministic", () => {
  // 20 of each of a, b, c, 10 of d (imbalanced), 7 without a class
  const labels: Array<string | undefined> = [
    ...Array<string>(20).fill("a"),
    ...Array<string>(20).fill("b"),
    ...Array<string>(20).fill("c"),
    ...Array<string>(10).fill("d"),
    ...Array<undefined>(7).fill(undefined),
  ];
  const items = labels.map((_, i) => i);
  const s = splitTrainEval(items, { evalFraction: 0.3, seed: 1, labels });
  const count = (xs: number[], l: string | undefined) => xs.filter((i) => labels[i] === l).length;
  assert.deepEqual(
    ["a", "b", "c", "d", undefined].map((l) => count(s.eval, l)),
    [6, 6, 6, 3, 2],
  );
  assert.deepEqual([...s.train, ...s.eval].sort((x, y) => x - y), items);
  assert.deepEqual(splitTrainEval(items, { evalFraction: 0.3, seed: 1, labels }), s);
  assert.notDeepEqual(splitTrainEval(items, { evalFraction: 0.3, seed: 2, labels }).eval, s.eval);
  assert.throws(() => splitTrainEval(items, { evalFraction: 0.3, seed: 1, labels: labels.slice(1) }), RangeError);
});

test("split: round(n × fraction) to eval, at least one, deterministic; sample keeps order; dedupe ignores key order", () => {
  const items = [...Array(101).keys()];
  const s = splitTrainEval(items, { evalFraction: 0.05, seed: 1 });
  assert.equal(s.eval.length, 5);
  assert.deepEqual([...s.train, ...s.eval].sort((x, y) => x - y), items);
  assert.deepEqual(splitTrainEval(items, { evalFraction: 0.05, seed: 1 }), s);
  assert.equal(splitTrainEval([1, 2, 3], { evalFraction: 0.05, seed: 1 }).eval.length, 1);
  assert.equal(splitTrainEval([1], { evalFraction: 0.05, seed: 1 }).eval.length, 0);
  assert.throws(() => splitTrainEval(items, { evalFraction: 1, seed: 1 }), RangeError);
  const sample = sampleItems(items, 10, 3);
  assert.equal(sample.length, 10);
  assert.deepEqual(sample, sample.slice().sort((x, y) => x - y));
  const rec = (m: unknown) => ({ record: m as ChatRecord, origin: { file: "f" } });
  const d = dedupe([rec({ messages: [{ role: "user", content: "a" }] }), rec({ messages: [{ content: "a", role: "user" }] }), rec({ messages: [{ role: "user", content: "b" }] })]);
  assert.deepEqual([d.kept.length, d.duplicates.length], [2, 1]);
});

test("stats: hand-computed summary, histogram, lengths and class balance", () => {
  assert.deepEqual(summarize([5, 1, 3, 2, 4]), { count: 5, min: 1, max: 5, mean: 3, p50: 3, p90: 5, p99: 5 });
  assert.deepEqual(histogram([0, 1, 2, 3, 4, 10], 5), { edges: [0, 2, 4, 6, 8, 10], counts: [2, 2, 1, 0, 1] });
  assert.deepEqual(histogram([7, 7], 4), { edges: [7, 8], counts: [2] });
  const r: ChatRecord = {
    messages: [
      { role: "user", content: "¿Hola?" },
      { role: "assistant", content: null, tool_calls: [{ function: { name: "f", arguments: { a: 1 } } }] },
      { role: "assistant", content: "Sí" },
    ],
  };
  assert.deepEqual(recordLengths(r), { chars: 6 + 1 + 7 + 2, messages: 3, assistantChars: 2 });
  assert.deepEqual(classBalance(["roya", "sana", "roya", undefined]), [
    { label: "roya", count: 2, share: 2 / 3 },
    { label: "sana", count: 1, share: 1 / 3 },
  ]);
});

test("plots: plotly figures and HTML tables (escaped)", () => {
  const h = lengthHistogram([{ name: "train", values: [1, 2, 3] }, { name: "eval", values: [2] }], { unit: "tokens", limit: { value: 512, label: "max-seq" } });
  assert.equal(h.data.length, 2);
  assert.deepEqual(h.data[0], { type: "histogram", name: "train", x: [1, 2, 3], nbinsx: 40, opacity: 0.6 });
  assert.equal((h.layout.shapes as Array<{ x0: number }>)[0]!.x0, 512);
  const b = classBalanceChart([{ label: "roya", count: 3 }, { label: "sana", count: 1 }]);
  assert.deepEqual(b.data[0]!.text, ["3 (75.0 %)", "1 (25.0 %)"]);
  const html = examplesTable([
    { messages: [{ role: "user", content: [{ type: "image", path: "images/a<b>.png" }, { type: "text", text: "¿<script>?" }] }, { role: "assistant", content: "Roya & broca" }] },
    { messages: [], text: "texto" },
  ]);
  assert.ok(html.includes("¿&lt;script&gt;?") && html.includes("Roya &amp; broca") && html.includes("[image images/a&lt;b&gt;.png]"));
  assert.ok(!html.includes("<script>"));
  assert.ok(html.includes("<b>text</b>: texto"));
  assert.equal(maskHtml(["a", "\n"], [0, 1]).match(/background:#fdd/g)!.length, 1);
});

test("data frames: rows and records as polars DataFrames; readRecords reads prepared files", async () => {
  const { rowsFrame, recordsFrame, readRecords } = await import("../../lib/data/index.js");
  const { tempDir, writeTree, jsonl } = await import("./helpers.js");
  const rows = await rowsFrame([
    { value: { preguntas: "¿A?", n: 1 }, file: "f", line: 1 },
    { value: { preguntas: "¿B?", extra: { x: 1 } }, file: "f", line: 2 },
  ]);
  assert.deepEqual(rows.columns, ["_file", "_line", "preguntas", "n", "extra"]);
  assert.deepEqual(rows.getColumn("extra").toArray(), [null, '{"x":1}']);
  const recs: ChatRecord[] = [
    { messages: [{ role: "system", content: "S" }, { role: "user", content: "¿Hola?" }, { role: "assistant", content: "Sí" }] },
    { messages: [], text: "texto" },
  ];
  const df = await recordsFrame(recs);
  assert.deepEqual(df.getColumn("roles").toArray(), ["system,user,assistant", ""]);
  assert.deepEqual(df.getColumn("chars").toArray(), [9, 5]);
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "t.jsonl": jsonl({ messages: [{ role: "user", content: "a" }, { role: "assistant", content: null, tool_calls: [{ function: { name: "f", arguments: '{"k": 2}' } }] }] }) });
    const [r] = await readRecords(join(dir, "t.jsonl"));
    assert.deepEqual(r!.messages[1]!.tool_calls![0]!.function.arguments, { k: 2 });
  } finally {
    cleanup();
  }
});
