// tunekit's multimodal path against llama.cpp's own (mtmd, compiled from the bundled source by the clip
// harness): the same chat-rendered prompt with one image must give the same token layout (text chunks,
// begin/end text, soft-token count, non-causal image) and the same next-token distributions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Model } from "../../lib/models/model.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { plainLinear } from "../../lib/models/decoder.js";
import { VisionModel, decodeRgb, randomMmproj, saveMmproj } from "../../lib/models/vision/index.js";
import { DEFAULT_MODEL } from "../../lib/pipeline/default-model.js";
import { sharedDir } from "../../lib/util/paths.js";
import { imagePromptTokens } from "../../lib/multimodal/tokenize.js";
import { modelRender } from "../../lib/multimodal/rows.js";
import { siglipEncoder } from "../../lib/multimodal/vision.js";
import { clipHarnessUnavailable, mtmdRun } from "../helpers/llama-mtmd.js";
import { logSoftmax } from "../models/helpers.js";

const shared = sharedDir();
const skip = !shared ? "../shared is absent" : clipHarnessUnavailable();
const dir = mkdtempSync(join(tmpdir(), "tunekit-mtmd-parity-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test(
  "a chat prompt with an image: tunekit's token layout and logits equal llama.cpp mtmd's",
  { skip },
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
      seed: 4,
      out: lm,
    });
    const mmproj = join(dir, "mmproj.gguf");
    const tower = randomMmproj({ textEmbd: 64, imageSize: 64, patchSize: 8, mergeFactor: 2, seed: 4 });
    await saveMmproj(mmproj, tower.config, tower.tensors);
    const image = join(shared!, "data", "images", "coffee-leaf", "images", "1.jpg");
    const model = Model.load(lm);
    const encoder = siglipEncoder(VisionModel.load(mmproj));
    try {
      const prompt = imagePromptTokens(
        [
          {
            role: "user",
            content: [
              { type: "image", path: image },
              { type: "text", text: "Which disease does this coffee leaf show?" },
            ],
          },
        ],
        { tokenizer: model.tokenizer, render: modelRender(model), image: encoder.image },
      );
      const { rgb, width, height } = await decodeRgb(image);
      const ref = mtmdRun({ model: lm, mmproj, rgb, width, height, prompt: prompt.text });
      // layout: text chunk, image chunk (16 soft tokens, non-causal), text chunk — ids equal ours around the slots
      const img = prompt.images[0]!;
      assert.deepEqual(
        ref.chunks.map((c) => c.type),
        ["text", "image", "text"],
      );
      const [before, imageChunk, after] = ref.chunks as unknown as [
        { tokens: number[] },
        { n_tokens: number; non_causal: boolean },
        { tokens: number[] },
      ];
      assert.deepEqual(imageChunk, { type: "image", n_tokens: img.count, non_causal: true });
      assert.deepEqual(before.tokens, prompt.ids.slice(0, img.column));
      assert.deepEqual(after.tokens, prompt.ids.slice(img.column + img.count));
      // logits of every text token
      const pixels = await encoder.pixels(image);
      const embeddings = encoder.encode(pixels);
      const ours = model.logits(prompt.ids, plainLinear, {
        embeddings,
        spans: [{ column: img.column, count: img.count, firstRow: 0 }],
        bidirectional: true,
      });
      const nVocab = model.config.nVocab;
      const textColumns = [...prompt.ids.keys()].filter((i) => i < img.column || i >= img.column + img.count);
      assert.equal(ref.logits.length, textColumns.length * nVocab);
      let worst = 0;
      textColumns.forEach((col, k) => {
        const a = logSoftmax(ours[col]!);
        const b = logSoftmax(ref.logits.slice(k * nVocab, (k + 1) * nVocab));
        for (let i = 0; i < nVocab; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      });
      console.log(
        `# mtmd vs tunekit: ${prompt.ids.length} tokens (${img.count} soft), max |Δ log-softmax| ${worst.toExponential(2)}`,
      );
      // llama.cpp's harness context keeps an f16 KV cache: a few 1e-3 of difference are expected
      assert.ok(worst < 2e-2, `max |Δ log-softmax| = ${worst}`);
    } finally {
      encoder.dispose();
      model.dispose();
    }
  },
);
