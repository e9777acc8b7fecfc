// Parity of tunekit's forward graph with llama.cpp (through node-llama-cpp) on tiny random models of every
// supported architecture made by newModelGguf: same token ids, log-softmax compared at every position.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Model } from "../../lib/models/model.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { SUPPORTED_ARCHS } from "../../lib/models/config.js";
import { referenceLogits, logSoftmax } from "./helpers.js";
import { sharedDir } from "../../lib/util/paths.js";

const shared = sharedDir();
const TOLERANCE = 5e-3;
/**
 * The Llama 2 tokenizer cut to its first 4096 tokens: a smaller output layer keeps llama.cpp's loading
 * and both evaluations fast, and exercises newModelGguf's vocabulary truncation.
 */
const VOCAB = 4096;
/** 24 token ids: beyond the sliding window of 8 used by gemma2/gemma3, and spread over the vocabulary. */
const TOKENS = [
  1, 450, 4095, 3754, 1701, 2916, 432, 1704, 975, 278, 1736, 1103, 2989, 13, 3999, 3, 258, 1000, 2000, 29,
  1576, 2, 3010, 12,
];

const dir = mkdtempSync(join(tmpdir(), "tunekit-parity-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const arch of SUPPORTED_ARCHS) {
  test(
    `${arch}: tunekit logits equal llama.cpp's on a random model`,
    { skip: !shared && "../shared is absent" },
    async () => {
      const out = join(dir, `${arch}.gguf`);
      const made = await newModelGguf({ arch, seed: 7, out, vocab: VOCAB });
      let t0 = performance.now();
      const ref = await referenceLogits(out, made.vocab, TOKENS);
      const tRef = performance.now() - t0;
      t0 = performance.now();
      const model = Model.load(out);
      let ours: Float32Array[];
      try {
        ours = model.logits(TOKENS);
      } finally {
        model.dispose();
      }
      console.log(
        `# ${arch}: llama.cpp ${tRef.toFixed(0)} ms, tunekit ${(performance.now() - t0).toFixed(0)} ms`,
      );
      assert.equal(ours.length, TOKENS.length);
      assert.equal(ref.length, TOKENS.length);
      let worst = 0;
      let spread = 0;
      for (let t = 0; t < TOKENS.length; t++) {
        const a = logSoftmax(ours[t]);
        const b = logSoftmax(ref[t]);
        assert.equal(a.length, made.vocab);
        let d = 0;
        for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        spread = Math.max(spread, Math.max(...b) - Math.min(...b));
        assert.ok(d <= TOLERANCE, `${arch}: position ${t}: max |Δ log-softmax| = ${d}`);
        worst = Math.max(worst, d);
      }
      // the comparison means something only when the distributions are far from uniform
      assert.ok(spread > 5, `${arch}: reference log-probs span only ${spread} nats`);
      console.log(
        `# ${arch}: max |Δ log-softmax| = ${worst.toExponential(2)} over ${TOKENS.length} positions (log-prob span ${spread.toFixed(1)})`,
      );
    },
  );
}

test(
  "gemma3: the sliding window changes llama.cpp's logits after position 8 (so parity covers it)",
  { skip: !shared && "../shared is absent" },
  async () => {
    // same seed → same weights; only attention.sliding_window differs
    const narrow = await newModelGguf({
      arch: "gemma3",
      seed: 7,
      out: join(dir, "w8.gguf"),
      vocab: VOCAB,
      slidingWindow: 8,
    });
    const wide = await newModelGguf({
      arch: "gemma3",
      seed: 7,
      out: join(dir, "w64.gguf"),
      vocab: VOCAB,
      slidingWindow: 64,
    });
    const a = await referenceLogits(narrow.out, VOCAB, TOKENS);
    const b = await referenceLogits(wide.out, VOCAB, TOKENS);
    const diff = (t: number) => Math.max(...Array.from(a[t], (v, i) => Math.abs(v - b[t][i])));
    for (let t = 0; t < 8; t++) assert.ok(diff(t) < 1e-4, `position ${t} is inside the window`);
    assert.ok(diff(TOKENS.length - 1) > 0.05, `last position: ${diff(TOKENS.length - 1)}`);
  },
);
