// Soft tokens (image embeddings) in the decoder: an embedding fed at a column must act exactly like the
// token whose (scaled) embedding it equals — llama.cpp feeds raw embeddings unscaled — and Gemma 3's
// bidirectional image attention must change only what it should.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Model } from "../../lib/models/model.js";
import { Session } from "../../lib/models/session.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { attentionMask, plainLinear } from "../../lib/models/decoder.js";
import { softTokenLayout, type SoftTokenValues } from "../../lib/models/soft-tokens.js";
import { sharedDir } from "../../lib/util/paths.js";
import { logSoftmax } from "./helpers.js";
import { harnessUnavailable, llamaChunkLogits } from "../helpers/llama-embd.js";

const shared = sharedDir();
const dir = mkdtempSync(join(tmpdir(), "tunekit-soft-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const TOKENS = [1, 450, 1023, 354, 701, 916, 432, 704, 975, 278, 736, 103, 13];
const SPAN = { column: 3, count: 4, firstRow: 0 };

/** The embeddings a token-fed run uses at SPAN: token_embd rows × embedScale (what llama.cpp does to text). */
function scaledRows(model: Model): Float32Array {
  const E = model.config.nEmbd;
  const table = model.weights.get("token_embd.weight").f32();
  const out = new Float32Array(E * SPAN.count);
  for (let i = 0; i < SPAN.count; i++) {
    const id = TOKENS[SPAN.column + i];
    for (let j = 0; j < E; j++) out[i * E + j] = table[id * E + j] * model.config.embedScale;
  }
  return out;
}
const maxDiff = (a: Float32Array, b: Float32Array) =>
  Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

for (const arch of ["gemma3", "llama", "gemma3n"] as const) {
  test(
    `${arch}: soft tokens equal to the scaled token embeddings give the text logits`,
    { skip: !shared && "../shared is absent" },
    async () => {
      const made = await newModelGguf({
        arch,
        seed: 3,
        out: join(dir, `${arch}.gguf`),
        vocab: 1024 + 4,
        layers: arch === "llama" ? 2 : undefined,
      });
      assert.ok(made.vocab > 1023);
      const model = Model.load(made.out);
      try {
        const text = model.logits(TOKENS);
        const soft: SoftTokenValues = { embeddings: scaledRows(model), spans: [SPAN], bidirectional: false };
        // the token ids under the soft columns must not matter: put other ids there
        const ids = TOKENS.map((t, i) => (i >= SPAN.column && i < SPAN.column + SPAN.count ? 0 : t));
        const withSoft = model.logits(arch === "gemma3n" ? TOKENS : ids, plainLinear, soft);
        for (let t = 0; t < TOKENS.length; t++)
          assert.ok(maxDiff(text[t], withSoft[t]) < 1e-4, `position ${t}: ${maxDiff(text[t], withSoft[t])}`);
        // control: unscaled rows (a graph that scaled soft tokens again would match these instead) differ
        if (model.config.embedScale !== 1) {
          const raw = scaledRows(model).map((v) => v / model.config.embedScale);
          const off = model.logits(ids, plainLinear, { ...soft, embeddings: raw });
          assert.ok(maxDiff(text[TOKENS.length - 1], off[TOKENS.length - 1]) > 1e-2);
        }
      } finally {
        model.dispose();
      }
    },
  );
}

test(
  "gemma3: bidirectional image attention changes the image columns and what follows, never what precedes",
  { skip: !shared && "../shared is absent" },
  async () => {
    const made = await newModelGguf({
      arch: "gemma3",
      seed: 3,
      out: join(dir, "g3b.gguf"),
      vocab: 1028,
      slidingWindow: 64,
    });
    const model = Model.load(made.out);
    try {
      const soft: SoftTokenValues = { embeddings: scaledRows(model), spans: [SPAN], bidirectional: false };
      const causal = model.logits(TOKENS, plainLinear, soft);
      const both = model.logits(TOKENS, plainLinear, { ...soft, bidirectional: true });
      for (let t = 0; t < SPAN.column; t++)
        assert.ok(maxDiff(causal[t], both[t]) < 1e-5, `position ${t} precedes the image`);
      // the last image column already sees the whole image causally: only its predecessors change
      for (let t = SPAN.column; t < SPAN.column + SPAN.count - 1; t++)
        assert.ok(maxDiff(causal[t], both[t]) > 1e-3, `image column ${t}`);
      assert.ok(maxDiff(causal[TOKENS.length - 1], both[TOKENS.length - 1]) > 1e-3, "text after the image");
    } finally {
      model.dispose();
    }
  },
);

test("attentionMask: a bidirectional group sees its own later columns and nothing else new", () => {
  const pos = Int32Array.from({ length: 6 }, (_, i) => i);
  const layout = softTokenLayout(6, [{ column: 1, count: 3, firstRow: 0 }], 3);
  assert.deepEqual([...layout.groups], [0, 1, 1, 1, 0, 0]);
  assert.deepEqual([...layout.rows], [0, 0, 1, 2, 0, 0]);
  const m = attentionMask({
    queryPos: pos,
    keyPos: pos,
    seqLen: 6,
    batch: 1,
    nKv: 6,
    queryGroups: layout.groups,
    keyGroups: layout.groups,
  });
  const allowed = (q: number) => [...m.slice(q * 6, q * 6 + 6)].map((v) => (v === 0 ? 1 : 0)).join("");
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(allowed), [
    "100000",
    "111100",
    "111100",
    "111100",
    "111110",
    "111111",
  ]);
  assert.throws(() => softTokenLayout(6, [{ column: 4, count: 3, firstRow: 0 }], 3), /out of range/);
  assert.throws(
    () =>
      softTokenLayout(
        6,
        [
          { column: 0, count: 2, firstRow: 0 },
          { column: 1, count: 1, firstRow: 2 },
        ],
        3,
      ),
    /overlap/,
  );
});

const noHarness = !shared ? "../shared is absent" : harnessUnavailable();
for (const [arch, nonCausal] of [
  ["gemma3", true],
  ["gemma3", false],
  ["gemma3n", false],
] as const) {
  test(
    `${arch}: soft tokens${nonCausal ? " with bidirectional attention" : ""} give llama.cpp's logits (raw-embedding batches as mtmd decodes them)`,
    { skip: noHarness },
    async () => {
      const made = await newModelGguf({
        arch,
        seed: 11,
        out: join(dir, `ref-${arch}.gguf`),
        vocab: 1028,
        slidingWindow: 64,
      });
      const model = Model.load(made.out);
      try {
        // embeddings unlike any token's: random, at the scale of the model's scaled text embeddings
        let seed = 5;
        const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
        const E = model.config.nEmbd;
        const emb = Float32Array.from({ length: E * SPAN.count }, rand);
        const before = TOKENS.slice(0, SPAN.column);
        const after = TOKENS.slice(SPAN.column + SPAN.count);
        // gemma3n's per-layer inputs use token 0 under an image (llama.cpp's multimodal path)
        const ids = [...before, ...new Array<number>(SPAN.count).fill(0), ...after];
        const ours = model.logits(ids, plainLinear, {
          embeddings: emb,
          spans: [SPAN],
          bidirectional: nonCausal,
        });
        const ref = llamaChunkLogits(
          made.out,
          [{ tokens: before }, { embeddings: emb, count: SPAN.count, nonCausal }, { tokens: after }],
          made.vocab,
        );
        let worst = 0;
        for (let t = 0; t < ids.length; t++) {
          const a = logSoftmax(ours[t]);
          const b = logSoftmax(ref[t]);
          for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        console.log(
          `# ${arch}${nonCausal ? " non-causal" : ""}: max |Δ log-softmax| vs llama.cpp = ${worst.toExponential(2)}`,
        );
        assert.ok(worst < 5e-3, `max |Δ log-softmax| ${worst}`);
        // control: the other attention mode is measurably different from llama.cpp's run
        if (arch === "gemma3") {
          const other = model.logits(ids, plainLinear, {
            embeddings: emb,
            spans: [SPAN],
            bidirectional: !nonCausal,
          });
          assert.ok(
            maxDiff(
              logSoftmax(other[SPAN.column]) as unknown as Float32Array,
              logSoftmax(ref[SPAN.column]) as unknown as Float32Array,
            ) > 1e-2,
          );
        }
      } finally {
        model.dispose();
      }
    },
  );
}

test(
  "gemma3: a KV-cache session fed a prompt with soft tokens, then text, matches whole-sequence logits",
  { skip: !shared && "../shared is absent" },
  async () => {
    const made = await newModelGguf({
      arch: "gemma3",
      seed: 3,
      out: join(dir, "g3s.gguf"),
      vocab: 1028,
      slidingWindow: 64,
    });
    const model = Model.load(made.out);
    const session = new Session(model, 32);
    try {
      const soft: SoftTokenValues = {
        embeddings: scaledRows(model).map((v) => -v),
        spans: [SPAN],
        bidirectional: true,
      };
      const whole = model.logits(TOKENS, plainLinear, soft);
      const cut = 9;
      const first = session.eval(TOKENS.slice(0, cut), soft);
      assert.ok(maxDiff(first, whole[cut - 1]) < 1e-4);
      for (let t = cut; t < TOKENS.length; t++) {
        const next = session.eval([TOKENS[t]!]);
        assert.ok(maxDiff(next, whole[t]) < 1e-4, `position ${t}`);
      }
    } finally {
      session.dispose();
      model.dispose();
    }
  },
);
