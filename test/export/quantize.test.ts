// quantizeModel against llama.cpp: per-tensor types and bytes equal to llama.cpp's own quantizer
// (llama_model_quantize of the bundled libllama) for every file type, the mixes checked against a table
// derived by hand from src/llama-quant.cpp, and bad inputs refused before anything is written.
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
  "every file type: the same tensor types and bytes as llama.cpp's quantizer (8 layers, GQA 4, ffn rows needing fallbacks)",
  { skip },
  async () => {
    const base = join(tmp, "mix-base.gguf");
    await newModelGguf({
      arch: "llama",
      dim: 256,
      ffn: 288,
      layers: 8,
      heads: 4,
      kvHeads: 1,
      vocab: 512,
      seed: 3,
      out: base,
    });
    for (const type of ALL) {
      const ours = join(tmp, `mix-${type}.gguf`);
      const theirs = join(tmp, `mix-${type}-llama.gguf`);
      const r = await quantizeModel({ in: base, out: ours, type });
      llamaQuantize(base, theirs, QUANT_TYPES[type].ftype);
      const a = openGguf(ours);
      const b = openGguf(theirs);
      try {
        assert.deepEqual(
          a.tensors.map((t) => t.name),
          b.tensors.map((t) => t.name),
          `${type}: tensor order`,
        );
        for (const t of b.tensors) {
          const mine = a.tensor(t.name)!;
          assert.equal(ggmlTypeName(mine.type), ggmlTypeName(t.type), `${type}: ${t.name}`);
          assert.ok(
            Buffer.from(a.tensorData(t.name)).equals(Buffer.from(b.tensorData(t.name))),
            `${type}: ${t.name} bytes`,
          );
        }
        assert.equal(a.get("general.file_type"), b.get("general.file_type"), type);
        assert.equal(a.get("general.quantization_version"), 2);
        for (const [k, v] of b.metadata) assert.deepEqual(a.metadata.get(k), v, `${type}: ${k}`);
      } finally {
        a.close();
        b.close();
      }
      if (type.startsWith("Q4_K") || type.startsWith("Q3") || type === "Q2_K" || type === "Q6_K")
        assert.ok(r.fallbacks > 0, `${type} falls back on ffn_down rows of 288`);
    }
  },
);

test("mix recipes tensor by tensor against a table derived from llama-quant.cpp (16 layers)", () => {
  const layers = 16;
  const names = (tied: boolean, kvCols = 256) => [
    { name: "token_embd.weight", shape: [256, 1000], type: GgmlType.F32 },
    ...(tied ? [] : [{ name: "output.weight", shape: [256, 1000], type: GgmlType.F32 }]),
    { name: "output_norm.weight", shape: [256], type: GgmlType.F32 },
    ...Array.from({ length: layers }, (_, i) =>
      [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
        "attn_norm",
        "ffn_norm",
      ].map((k) => ({
        name: `blk.${i}.${k}.weight`,
        shape: k.endsWith("norm")
          ? [256]
          : k === "ffn_down"
            ? [512, 256]
            : k === "attn_k" || k === "attn_v"
              ? [256, kvCols]
              : [256, 256],
        type: GgmlType.F32,
      })),
    ).flat(),
  ];
  // use_more_bits(i, 16): i < 2, i >= 14, or (i − 2) % 3 == 2
  const more = new Set([0, 1, 4, 7, 10, 13, 14, 15]);
  const K = { Q2: "Q2_K", Q3: "Q3_K", Q4: "Q4_K", Q5: "Q5_K", Q6: "Q6_K" } as const;
  type Row = Partial<
    Record<"attn_v" | "ffn_down" | "attn_output" | "other" | "output" | "token_embd", (i: number) => string>
  >;
  const table: Record<string, Row> = {
    Q4_K_M: {
      attn_v: (i) => (more.has(i) ? K.Q6 : K.Q4),
      ffn_down: (i) => (more.has(i) ? K.Q6 : K.Q4),
      output: () => K.Q6,
      token_embd: () => K.Q4,
    },
    Q5_K_M: {
      attn_v: (i) => (more.has(i) ? K.Q6 : K.Q5),
      ffn_down: (i) => (more.has(i) ? K.Q6 : K.Q5),
      output: () => K.Q6,
      token_embd: () => K.Q5,
    },
    Q4_K_S: {
      attn_v: (i) => (i < 4 ? K.Q5 : K.Q4),
      ffn_down: (i) => (i < 2 ? K.Q5 : K.Q4),
      output: () => K.Q6,
    },
    Q5_K_S: { output: () => K.Q6 },
    Q3_K_S: { output: () => K.Q6 },
    Q3_K_M: {
      attn_v: (i) => (i < 2 ? K.Q5 : K.Q4),
      ffn_down: (i) => (i < 1 ? K.Q5 : K.Q4),
      attn_output: () => K.Q4,
      output: () => K.Q6,
    },
    Q3_K_L: { attn_v: () => K.Q5, ffn_down: () => K.Q5, attn_output: () => K.Q5, output: () => K.Q6 },
    Q2_K: { attn_v: () => K.Q3, ffn_down: () => K.Q3, attn_output: () => K.Q3, output: () => K.Q6 },
    Q6_K: { output: () => K.Q6 },
    Q8_0: { output: () => "Q8_0" },
    Q4_0: { output: () => K.Q6 },
    Q5_0: { output: () => K.Q6 },
    F16: { output: () => "F16" },
    BF16: { output: () => "BF16" },
  };
  const model = { arch: "llama", nLayer: layers, nHead: 8, nHeadKv: 8 };
  for (const [type, row] of Object.entries(table)) {
    const base = ggmlTypeName(QUANT_TYPES[type as QuantTypeName].base);
    for (const p of planQuantization(names(false), model, type as QuantTypeName)) {
      const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(p.name);
      let want: string;
      if (p.shape.length === 1) want = "F32";
      else if (p.name === "output.weight") want = row.output!(0);
      else if (p.name === "token_embd.weight") want = (row.token_embd ?? (() => base))(0);
      else {
        const kind = m![2] as keyof Row;
        want = (row[kind] ?? (() => base))(Number(m![1]));
      }
      assert.equal(ggmlTypeName(p.target), want, `${type} ${p.name}`);
    }
  }
  // tied embeddings: token_embd takes the output rule (Q6_K); Q2_K with GQA ≥ 4 gives attn_v Q4_K
  const tied = planQuantization(names(true, 64 * 2), { ...model, nHeadKv: 2 }, "Q2_K");
  assert.equal(ggmlTypeName(tied.find((p) => p.name === "token_embd.weight")!.target), "Q6_K");
  assert.equal(ggmlTypeName(tied.find((p) => p.name === "blk.3.attn_v.weight")!.target), "Q4_K");
  // rows that are not whole 256-blocks: Q4_K → Q5_0, Q6_K → Q8_0, Q2_K/Q3_K → Q4_0, output → Q8_0; rows of 40 → F16
  const odd = [
    { name: "output.weight", shape: [96, 10], type: GgmlType.F32 },
    { name: "blk.0.ffn_gate.weight", shape: [96, 10], type: GgmlType.F32 },
    { name: "blk.0.ffn_up.weight", shape: [40, 10], type: GgmlType.F32 },
  ];
  const oddModel = { arch: "llama", nLayer: 1, nHead: 1, nHeadKv: 1 };
  const got = (t: QuantTypeName) =>
    planQuantization(odd, oddModel, t)
      .map((p) => `${p.name}=${ggmlTypeName(p.target)}`)
      .join(" ");
  assert.equal(got("Q4_K_M"), "output.weight=Q8_0 blk.0.ffn_gate.weight=Q5_0 blk.0.ffn_up.weight=F16");
  assert.equal(got("Q6_K"), "output.weight=Q8_0 blk.0.ffn_gate.weight=Q8_0 blk.0.ffn_up.weight=F16");
  assert.equal(got("Q2_K"), "output.weight=Q8_0 blk.0.ffn_gate.weight=Q4_0 blk.0.ffn_up.weight=F16");
});

test(
  "bad input: an adapter file, an unknown type, a quantized input → InputError, nothing written",
  { skip },
  async () => {
    const base = join(tmp, "bad-base.gguf");
    await newModelGguf({
      arch: "llama",
      dim: 256,
      ffn: 256,
      layers: 1,
      heads: 4,
      vocab: 512,
      seed: 1,
      out: base,
    });
    const out = join(tmp, "never.gguf");
    await assert.rejects(
      quantizeModel({ in: base, out, type: "Q4_K_X" }),
      (e: Error) => e instanceof InputError && /unknown quantization type/.test(e.message),
    );
    const q4 = join(tmp, "bad-q4.gguf");
    await quantizeModel({ in: base, out: q4, type: "Q4_0" });
    await assert.rejects(
      quantizeModel({ in: q4, out, type: "Q2_K" }),
      (e: Error) => e instanceof InputError && /already Q4_0/.test(e.message),
    );
    // a LoRA adapter GGUF
    const { writeGguf, gguf } = await import("../../lib/gguf/index.js");
    const adapter = join(tmp, "adapter.gguf");
    await writeGguf(adapter, {
      metadata: {
        "general.architecture": gguf.str("llama"),
        "general.type": gguf.str("adapter"),
        "adapter.type": gguf.str("lora"),
      },
      tensors: [
        {
          name: "blk.0.attn_q.weight.lora_a",
          type: GgmlType.F32,
          shape: [256, 2],
          data: new Uint8Array(256 * 2 * 4),
        },
      ],
    });
    await assert.rejects(
      quantizeModel({ in: adapter, out, type: "Q8_0" }),
      (e: Error) => e instanceof InputError && /adapter file/.test(e.message),
    );
    assert.ok(!existsSync(out));
  },
);
