// Image-question evaluation: answers come from tunekit's KV-cache session with the image's soft tokens
// (checked against whole-sequence greedy decoding), class names are read from them, and the confusion
// matrix, table and heatmap say what the predictions say.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Model } from "../../lib/models/model.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { plainLinear } from "../../lib/models/decoder.js";
import { VisionModel, randomMmproj, saveMmproj } from "../../lib/models/vision/index.js";
import { DEFAULT_MODEL } from "../../lib/pipeline/default-model.js";
import { PACKAGE_ROOT, sharedDir } from "../../lib/util/paths.js";
import { spawnSync } from "node:child_process";
import { classificationReport } from "../../lib/eval/metrics/classification.js";
import { confusionMatrixFigure } from "../../lib/eval/plots.js";
import { confusionTable, evalImageQuestions, readImageQuestions } from "../../lib/multimodal/image-eval.js";
import { imagePromptTokens } from "../../lib/multimodal/tokenize.js";
import { answerWithImages } from "../../lib/multimodal/generate.js";
import { modelRender } from "../../lib/multimodal/rows.js";
import { siglipEncoder } from "../../lib/multimodal/vision.js";

const shared = sharedDir();
const dir = mkdtempSync(join(tmpdir(), "tunekit-image-eval-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("confusion table and heatmap: rows are references, columns predictions, shares per row", () => {
  const r = classificationReport(
    ["rust", "rust", "healthy", "miner", "rust"],
    ["rust", "healthy", "healthy", "miner", "miner"],
  );
  assert.deepEqual(r.labels, ["healthy", "miner", "rust"]);
  assert.deepEqual(r.matrix, [
    [1, 0, 1],
    [0, 1, 1],
    [0, 0, 1],
  ]);
  const fig = confusionMatrixFigure(r, "t");
  const z = fig.data[0]!.z as number[][];
  assert.deepEqual(z, [
    [0.5, 0, 0.5],
    [0, 0.5, 0.5],
    [0, 0, 1],
  ]);
  assert.equal((fig.layout.annotations as unknown[]).length, 9);
  assert.match(String((fig.layout.title as { text: string }).text), /accuracy 60\.0%/);
  const table = confusionTable(r);
  assert.match(table, /accuracy 60\.0%/);
  assert.match(table, /\[1\] miner\s+0\s+1\s+1/);
  assert.match(table, /rust\s+precision 0\.33\s+recall 1\.00/);
});

test(
  "image questions: answers are greedy decoding of whole-sequence logits with the image's soft tokens; CLI gives the same report",
  { skip: !shared && "../shared is absent" },
  async () => {
    const lm = join(dir, "lm.gguf");
    await newModelGguf({
      arch: "gemma3",
      tokenizerFrom: DEFAULT_MODEL,
      dim: 64,
      layers: 6,
      heads: 4,
      kvHeads: 2,
      headDim: 16,
      ffn: 128,
      slidingWindow: 128,
      seed: 9,
      out: lm,
    });
    const mmproj = join(dir, "mmproj.gguf");
    const tower = randomMmproj({ textEmbd: 64, imageSize: 32, patchSize: 8, mergeFactor: 2, seed: 9 });
    await saveMmproj(mmproj, tower.config, tower.tensors);
    const images = join(shared!, "data", "images", "coffee-leaf", "images");
    const data = join(dir, "eval.jsonl");
    const files = [
      ["1.jpg", "healthy"],
      ["116.jpg", "rust"],
      ["20.jpg", "brown_leaf_spot_phoma"],
    ];
    const rows = files.map(([f, label]) =>
      JSON.stringify({
        messages: [
          {
            role: "user",
            content: [
              { type: "image", path: join(images, f!) },
              { type: "text", text: "Which disease?" },
            ],
          },
          { role: "assistant", content: label },
        ],
      }),
    );
    writeFileSync(data, rows.join("\n") + "\n");
    const model = Model.load(lm);
    const encoder = siglipEncoder(VisionModel.load(mmproj));
    try {
      const render = modelRender(model);
      const out = join(dir, "run");
      const r = await evalImageQuestions({
        model,
        encoder,
        render,
        data,
        maxTokens: 3,
        out,
        labels: ["healthy", "rust", "brown_leaf_spot_phoma"],
      });
      assert.equal(r.predictions.length, 3);
      const questions = readImageQuestions(data);
      for (const [k, q] of questions.entries()) {
        const prompt = imagePromptTokens(q.prompt, {
          tokenizer: model.tokenizer,
          render,
          image: encoder.image,
        });
        const embeddings = encoder.encode(await encoder.pixels(join(images, files[k]![0]!)));
        const spans = [{ column: prompt.images[0]!.column, count: prompt.images[0]!.count, firstRow: 0 }];
        // the session's answer (KV cache) against whole-sequence logits: every chosen token is the argmax
        // there too (up to float noise: a random model's near-ties between newline tokens are allowed)
        const a = await answerWithImages(model, encoder, q.prompt, { render, maxTokens: 3 });
        assert.equal(r.predictions[k]!.answer, a.text, `example ${k}`);
        const ids = [...prompt.ids];
        for (const t of a.tokens) {
          const logits = model.logits(ids, plainLinear, { embeddings, spans, bidirectional: true });
          const last = logits[logits.length - 1]!;
          const max = Math.max(...last);
          assert.ok(last[t]! >= max - 1e-3, `example ${k}: token ${t} is ${max - last[t]!} below the best`);
          ids.push(t);
        }
      }
      const correct = r.predictions.filter((p) => p.predictedLabel === p.referenceLabel).length;
      assert.equal(r.report.accuracy, correct / 3);
      assert.equal(r.result.metrics.accuracy, r.report.accuracy);
      assert.equal(
        r.report.matrix.flat().reduce((a, b) => a + b, 0),
        3,
      );
      assert.ok(existsSync(join(out, "eval.json")));
      assert.equal(readFileSync(join(out, "predictions.jsonl"), "utf8").trim().split("\n").length, 3);
      // the same through the CLI: tunekit eval --mmproj … --json
      const cli = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "lib/cli/main.ts",
          "eval",
          "--model",
          lm,
          "--mmproj",
          mmproj,
          "--data",
          data,
          "--max-tokens",
          "3",
          "--labels",
          "healthy,rust,brown_leaf_spot_phoma",
          "--plot",
          join(dir, "cm.html"),
          "--json",
        ],
        { cwd: PACKAGE_ROOT, encoding: "utf8" },
      );
      assert.equal(cli.status, 0, cli.stderr.slice(-2000));
      const doc = JSON.parse(cli.stdout) as {
        metrics: { accuracy: number };
        details: { classification: { matrix: number[][] } };
      };
      assert.equal(doc.metrics.accuracy, r.report.accuracy);
      assert.deepEqual(doc.details.classification.matrix, r.report.matrix);
      assert.match(readFileSync(join(dir, "cm.html"), "utf8"), /heatmap/);
    } finally {
      encoder.dispose();
      model.dispose();
    }
  },
);
