// Gradients through the Gemma 3n text decoder into its input embeddings (what a vision tower trained with a
// gemma3n model needs) and into its weights (full fine-tuning): ggml's autograd against central finite
// differences of the same f32 graph. While the per-layer input projection scaled a tensor it then permuted,
// ggml's backward built a SCALE on a permuted gradient and aborted (such graphs are now refused beforehand by
// the layout check: test/engine/backward-layout.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import {
  Context,
  Graph,
  GradientState,
  Ops,
  buildBackward,
  getBackend,
  markTrainable,
  type Tensor,
} from "../../lib/engine/index.js";
import { Model } from "../../lib/models/model.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { attentionMask, buildDecoder } from "../../lib/models/decoder.js";
import { softTokenLayout } from "../../lib/models/soft-tokens.js";
import type { ModelConfig } from "../../lib/models/config.js";
import { gradCheck, rng } from "../engine/gradcheck.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-g3n-grad-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const TOKENS = [2, 17, 0, 0, 41, 9];
const SPAN = { column: 2, count: 2, firstRow: 0 };

/** The decoder's inputs for TOKENS with soft tokens at SPAN, and a fill() writing their values. */
function inputs(ctx: Context, model: Model, embeddings: Tensor) {
  const T = TOKENS.length;
  const c = model.config;
  const t = {
    tokens: ctx.input(GgmlType.I32, [T], "tokens"),
    positions: ctx.input(GgmlType.I32, [T], "positions"),
    mask: ctx.input(GgmlType.F32, [T, T, 1, 1], "mask"),
    maskSwa: ctx.input(GgmlType.F32, [T, T, 1, 1], "mask swa"),
    rows: ctx.input(GgmlType.I32, [T], "rows"),
    isSoft: ctx.input(GgmlType.F32, [1, T], "is soft"),
    isText: ctx.input(GgmlType.F32, [1, T], "is text"),
  };
  const layout = softTokenLayout(T, [SPAN], embeddings.ne[1]);
  const pos = Int32Array.from({ length: T }, (_, i) => i);
  const m = { queryPos: pos, keyPos: pos, seqLen: T, batch: 1, nKv: T };
  return {
    decoder: {
      tokens: t.tokens,
      positions: t.positions,
      mask: t.mask,
      maskSwa: t.maskSwa,
      seqLen: T,
      batch: 1,
      softTokens: { embeddings, rows: t.rows, isSoft: t.isSoft, isText: t.isText },
    },
    fill() {
      t.tokens.set(Int32Array.from(TOKENS));
      t.positions.set(pos);
      // with two layers both are local: the global mask is not in the graph (never allocated)
      if (t.mask.data) t.mask.set(attentionMask(m));
      t.maskSwa.set(attentionMask({ ...m, window: c.slidingWindow }));
      t.rows.set(layout.rows);
      t.isSoft.set(layout.isSoft);
      t.isText.set(layout.isText);
    },
  };
}

async function tinyGemma3n(name: string): Promise<string> {
  const out = join(dir, name);
  await newModelGguf({ arch: "gemma3n", seed: 5, vocab: 64, layers: 2, out });
  return out;
}

/** Runs `fn` on one thread (a small graph computed hundreds of times). */
function oneThread<T>(fn: () => T): T {
  const backend = getBackend();
  const threads = backend.threads;
  backend.setThreads(1);
  try {
    return fn();
  } finally {
    backend.setThreads(threads);
  }
}

/** The config with the gaussian top-k off: no ReLU kinks that a finite difference could step across. */
function smooth(c: ModelConfig): ModelConfig {
  return { ...c, gemma3n: { ...c.gemma3n!, sparsityStdMul: c.gemma3n!.sparsityStdMul.map(() => null) } };
}

test("gemma3n: the gradient into the input (soft-token) embeddings equals central finite differences", async () => {
  const model = Model.load(await tinyGemma3n("g3n.gguf"));
  try {
    // with the model's activation sparsity (ReLU kinks: a small step, where f32 rounding starts to show) and
    // without it (smooth: the step where truncation and rounding errors are both small)
    for (const [what, config, eps] of [
      ["as configured", model.config, 3e-3],
      ["top-k off", smooth(model.config), 1e-2],
    ] as const) {
      let fill: (() => void) | undefined;
      const { relErr } = oneThread(() =>
        gradCheck({
          shapes: [[model.config.nEmbd, SPAN.count]],
          build: (ops, [emb], ctx) => {
            const inp = inputs(ctx, model, emb);
            fill = inp.fill;
            return buildDecoder(ops, config, model.weights, inp.decoder).logits;
          },
          fill: () => fill!(),
          eps,
        }),
      );
      console.log(
        `# gemma3n d loss / d input embeddings (${what}, eps ${eps}): relative error vs finite differences ${relErr.toExponential(2)}`,
      );
      assert.ok(relErr < 1e-3, `${what}: relative error ${relErr}`);
    }
  } finally {
    model.dispose();
  }
});

test("gemma3n full fine-tuning: the backward builds and the per-layer weights get finite-difference gradients", async () => {
  const model = Model.load(await tinyGemma3n("g3n-full.gguf"), { trainable: true });
  const c = smooth(model.config);
  const pctx = new Context({ maxTensors: 4 });
  const ctx = new Context({ maxTensors: 8192, graphSize: 8192, grads: true });
  try {
    const emb = pctx.f32([c.nEmbd, SPAN.count], "soft tokens");
    const params = [...model.weights.names().map((n) => model.weights.get(n)), emb];
    const ops = new Ops(ctx);
    const inp = inputs(ctx, model, emb);
    const logits = buildDecoder(ops, c, model.weights, inp.decoder).logits;
    const weights = ctx.input(GgmlType.F32, logits.ne, "loss weights");
    const loss = ops.sum(ops.mul(logits, weights));
    markTrainable(params, loss);
    const state = new GradientState(params);
    const graph = Graph.build(ctx, [loss], { size: 8192, grads: true });
    // every weight trains: the per-layer token embedding's ×√P took a permuted gradient here before
    buildBackward(graph, loss, state);
    pctx.allocate();
    graph.allocate();
    const r = rng(3);
    const w = Float32Array.from({ length: weights.nelements }, () => r());
    emb.set(Float32Array.from({ length: emb.nelements }, () => r()));
    const run = () => {
      weights.set(w);
      inp.fill();
      graph.compute();
      return loss.scalar();
    };
    oneThread(() => {
      state.zero();
      run();
      // every compute adds to the accumulators again: keep the gradients of this first one
      const analytic = new Map(params.map((p, i) => [p, state.accumulators[i].f32()]));
      // central differences on a sample of the entries that reach the loss (the rows of the tokens in use).
      // These gradients are small next to the loss, so the f32 rounding of the loss dominates the difference:
      // its error falls as 1/ε (ε 1e-3 → 3e-2: 3.0e-2 → 1.1e-3 on per_layer_model_proj), hence a large ε
      const eps = 3e-2;
      const used = [...new Set(TOKENS)];
      for (const name of [
        "per_layer_token_embd.weight",
        "per_layer_model_proj.weight",
        "per_layer_proj_norm.weight",
        "token_embd.weight",
      ]) {
        const t = model.weights.get(name);
        const g = analytic.get(t)!;
        const x = t.f32();
        const rowLen = t.ne[0];
        const entries = Array.from({ length: 32 }, () => {
          const col = Math.floor(((r() + 1) / 2) * rowLen);
          const row = name.endsWith("token_embd.weight")
            ? used[Math.floor(((r() + 1) / 2) * used.length)]
            : Math.floor(((r() + 1) / 2) * (t.nelements / rowLen));
          return row * rowLen + col;
        });
        let diff = 0;
        let na = 0;
        let nf = 0;
        for (const j of entries) {
          const orig = x[j];
          x[j] = orig + eps;
          t.set(x);
          const up = run();
          x[j] = orig - eps;
          t.set(x);
          const down = run();
          x[j] = orig;
          t.set(x);
          const fd = (up - down) / (2 * eps);
          diff += (g[j] - fd) ** 2;
          na += g[j] ** 2;
          nf += fd ** 2;
        }
        const rel = Math.sqrt(diff) / Math.max(Math.sqrt(na), Math.sqrt(nf));
        console.log(
          `# ${name}: ${entries.length} entries, |gradient| ${Math.sqrt(na).toExponential(2)}, relative error vs finite differences ${rel.toExponential(2)}`,
        );
        assert.ok(na > 0, `${name}: no gradient`);
        assert.ok(rel < 3e-3, `${name}: relative error ${rel}`);
      }
    });
    state.free();
    graph.free();
  } finally {
    ctx.free();
    pctx.free();
    model.dispose();
  }
});
