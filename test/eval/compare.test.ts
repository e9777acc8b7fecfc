// `compare` on the tiny random Llama: the same model twice (KL 0, identical greedy answers) and the model
// with a LoRA adapter (KL > 0), on held-out text and a small eval set; table and plotly figures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedDir } from "../../lib/util/paths.js";
import { compareModels, formatCompareTable } from "../../lib/eval/compare.js";
import { figuresHtml } from "../../lib/eval/plots.js";
import { writeTinyLoraAdapter } from "../helpers/tiny-lora.js";

const shared = sharedDir();

test(
  "compare: reference, identical copy and base + adapter",
  { skip: !shared && "../shared is absent" },
  async () => {
    const model = join(shared!, "models/tiny-random-llama/llama-2-tiny-random.gguf");
    const dir = mkdtempSync(join(tmpdir(), "tunekit-compare-"));
    const adapter = join(dir, "adapter.gguf");
    await writeTinyLoraAdapter(adapter, { magnitude: 0.8 });
    const data = join(dir, "eval.jsonl");
    writeFileSync(
      data,
      [
        {
          messages: [
            { role: "user", content: "Who is Pierre?" },
            { role: "assistant", content: "A count's son." },
          ],
        },
        {
          messages: [
            { role: "user", content: "Where is Moscow?" },
            { role: "assistant", content: "In Russia." },
          ],
        },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    const text = readFileSync(join(shared!, "data/text/war-and-peace.txt"), "utf8").slice(5000, 8000);
    const result = await compareModels({
      entries: [
        { model, label: "base" },
        { model, label: "base again" },
        { model, adapter, label: "base + lora" },
      ],
      text,
      data,
      maxEvalTokens: 32,
      windowTokens: 33,
      maxTokens: 8,
      threads: 1,
      contextSize: 128,
    });
    assert.equal(result.textTokens, 32);
    const [base, again, tuned] = result.rows;
    assert.equal(base.klMean, 0);
    assert.ok(again.klMean! < 1e-6, `same model KL ${again.klMean}`);
    assert.equal(again.sameTop, 1);
    assert.equal(again.greedyAgreement, 1);
    assert.ok(Math.abs(again.nll! - base.nll!) < 1e-5);
    assert.ok(tuned.klMean! > 1e-3, `adapter KL ${tuned.klMean}`);
    assert.ok(tuned.klP99! >= tuned.klMean! * 0.5);
    assert.equal(tuned.fileBytes, statSync(model).size + statSync(adapter).size);
    assert.ok(Number.isFinite(tuned.perplexity) && Number.isFinite(tuned.decodeTokensPerSecond));
    assert.equal(typeof tuned.metrics?.bleu, "number");
    for (const key of ["size", "perplexity", "kl", "agreement", "speed"]) {
      const fig = result.figures[key];
      assert.ok(fig, `figure ${key}`);
      assert.deepEqual(fig.data[0].x, ["base", "base again", "base + lora"]);
    }
    const table = formatCompareTable(result);
    assert.match(table, /base \+ lora/);
    assert.match(table, /KL mean/);
    assert.match(figuresHtml("t", result.figures), /Plotly\.newPlot\("fig4"/);
  },
);
