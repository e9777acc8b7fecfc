// Every quantization type loads in node-llama-cpp, and its KL divergence from the f32 model on held-out
// text follows llama.cpp's published order (Q8_0 < Q6_K < Q5_K_M < Q4_K_M < Q3_K_M < Q2_K).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Token } from "node-llama-cpp";
import { newModelGguf } from "../../lib/models/new-model.js";
import { openGguf } from "../../lib/gguf/index.js";
import { GgmlType, ggmlTypeName } from "../../lib/gguf/ggml-types.js";
import { quantizeModel } from "../../lib/export/quantize.js";
import { planQuantization, QUANT_TYPES, type QuantTypeName } from "../../lib/export/quant-recipe.js";
import { loadModel } from "../../lib/infer/model.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import { logSoftmax } from "../models/parity-util.js";
import { InputError } from "../../lib/util/errors.js";
import { sharedDir } from "../../lib/util/paths.js";
import { llamaQuantize } from "./llama-quantize.js";
import { HELD_OUT } from "./text.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const tmp = mkdtempSync(join(tmpdir(), "tunekit-quantize-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const ALL = Object.keys(QUANT_TYPES).filter((t) => t !== "F32") as QuantTypeName[];

test(
  "every type loads in node-llama-cpp; KL from the f32 model is in llama.cpp's order",
  { skip },
  async () => {
    const base = join(tmp, "kl-base.gguf");
    await newModelGguf({
      arch: "llama",
      dim: 256,
      ffn: 512,
      layers: 2,
      heads: 4,
      vocab: 2048,
      seed: 7,
      out: base,
    });
    const ref = await loadModel({ modelPath: base, contextSize: 512, precise: true, threads: 1 });
    const tokens = ref.withBos(ref.tokenize(HELD_OUT, false)).slice(0, 128) as Token[];
    const p = (await ref.exclusive(() => nextTokenLogits(ref, tokens))).map(logSoftmax);
    await ref.dispose();
    const rows: Array<{ type: string; bytes: number; bpw: number; kl: number }> = [];
    for (const type of ALL) {
      const out = join(tmp, `kl-${type}.gguf`);
      const r = await quantizeModel({ in: base, out, type });
      const m = await loadModel({ modelPath: out, contextSize: 512, precise: true, threads: 1 });
      const q = (await m.exclusive(() => nextTokenLogits(m, tokens))).map(logSoftmax);
      await m.dispose();
      let kl = 0;
      for (let t = 0; t < p.length; t++)
        for (let i = 0; i < p[t].length; i++) kl += Math.exp(p[t][i]) * (p[t][i] - q[t][i]);
      rows.push({ type, bytes: r.outBytes, bpw: r.bitsPerWeight, kl: kl / p.length });
    }
    console.log(
      `KL(f32 ‖ quant) over ${tokens.length} tokens, random llama dim 256 ffn 512 × 2 layers, vocab 2048:`,
    );
    for (const r of rows)
      console.log(
        `  ${r.type.padEnd(7)} ${(r.bytes / 1024).toFixed(0).padStart(6)} KiB ${r.bpw.toFixed(2)} bpw  KL ${r.kl.toExponential(3)}`,
      );
    const kl = (t: string) => rows.find((r) => r.type === t)!.kl;
    const order = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"];
    for (let i = 1; i < order.length; i++)
      assert.ok(
        kl(order[i - 1]) < kl(order[i]),
        `${order[i - 1]} ${kl(order[i - 1])} < ${order[i]} ${kl(order[i])}`,
      );
    assert.ok(kl("F16") < kl("Q8_0"));
  },
);
