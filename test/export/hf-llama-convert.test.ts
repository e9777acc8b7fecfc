// The independent check of the Hugging Face export: llama.cpp's own convert_hf_to_gguf.py (from the
// release node-llama-cpp bundles) turns tunekit's exported folder back into a GGUF, and node-llama-cpp runs
// it. Its tensors must be the bytes of the GGUF tunekit exported (Q/K permutation, Gemma's norm shift and
// the names undone exactly) and its next-token log-softmax that of the original (≤ 1e-4 in f32).
// SentencePiece vocabularies only: the converter needs transformers for byte-level BPE ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Token } from "node-llama-cpp";
import { convertLlama2c } from "../../lib/models/convert-llama2c.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import { gguf, openGguf, writeGguf } from "../../lib/gguf/index.js";
import { llama3RopeFactors } from "../../lib/export/hf/llama3-rope.js";
import { mergeAdapter } from "../../lib/export/merge.js";
import { exportHfCheckpoint } from "../../lib/export/hf-checkpoint.js";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { sharedDir } from "../../lib/util/paths.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";
import { referenceLogits } from "../models/helpers.js";
import { convertWithLlamaCpp, converterUnavailable } from "../helpers/llama-convert.js";
import { STORIES_TARGETS, writeRandomLoraAdapter } from "./random-adapter.js";

const shared = sharedDir();
const skip = !shared ? "../shared is absent" : converterUnavailable();
const dir = mkdtempSync(join(tmpdir(), "tunekit-hf-llamacpp-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const TOKENS = [1, 403, 261, 378, 300, 5, 97, 140, 299, 260, 13, 400, 450, 2, 1, 77, 88, 311];

/** Bytes of every tensor of `b` equal those of `a` (same names, types, shapes). */
function assertSameTensors(a: string, b: string): void {
  const x = openGguf(a);
  const y = openGguf(b);
  try {
    assert.deepEqual(y.tensors.map((t) => t.name).sort(), x.tensors.map((t) => t.name).sort());
    for (const t of x.tensors) {
      const u = y.tensor(t.name)!;
      assert.equal(u.type, t.type, t.name);
      assert.deepEqual(u.shape, t.shape, t.name);
      assert.ok(
        Buffer.from(y.tensorData(t.name)).equals(Buffer.from(x.tensorData(t.name))),
        `${t.name} differs`,
      );
    }
  } finally {
    x.close();
    y.close();
  }
}

/** Every model of this file: original GGUF, exported folder, and llama.cpp's conversion of it (one batch). */
interface Case {
  /** The GGUF the conversion must reproduce (the merged one when an adapter is used). */
  expected: string;
  base: string;
  hf: string;
  converted: string;
  merged: number;
  files: string[];
}
let prepared: Promise<Record<string, Case>> | undefined;
function cases(): Promise<Record<string, Case>> {
  prepared ??= (async () => {
    const src = join(shared!, "models", "stories260K");
    const stories = join(dir, "stories260K.gguf");
    await convertLlama2c({
      checkpoint: join(src, "stories260K.bin"),
      tokenizer: join(src, "tok512.model"),
      out: stories,
    });
    const adapter = join(dir, "adapter.gguf");
    await writeRandomLoraAdapter(adapter, { targets: STORIES_TARGETS });
    const merged = join(dir, "merged.gguf");
    await mergeAdapter({ model: stories, adapter, out: merged, type: "f32" });
    const out: Record<string, Case> = {};
    const add = async (name: string, base: string, expected: string, withAdapter?: string) => {
      const hf = join(dir, `${name}-hf`);
      const r = await exportHfCheckpoint({ model: base, adapter: withAdapter, out: hf, dtype: "f32" });
      out[name] = {
        expected,
        base,
        hf,
        converted: join(dir, `${name}-llamacpp.gguf`),
        merged: r.merged,
        files: r.files.map((f) => f.name),
      };
    };
    await add("stories", stories, merged, adapter);
    // Llama 3-style rope scaling: rope_freqs.weight in the GGUF, rope_scaling in config.json
    const plain = await newModelGguf({
      arch: "llama",
      seed: 9,
      out: join(dir, "llama3-plain.gguf"),
      tokenizerFrom: stories,
    });
    const llama3 = join(dir, "llama3.gguf");
    const p = openGguf(plain.out);
    try {
      const metadata = new Map(p.metadata);
      metadata.set("llama.rope.freq_base", gguf.f32(500000));
      const scaling = {
        rope_type: "llama3",
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      } as const;
      const factors = llama3RopeFactors(scaling, 500000, plain.headDim);
      await writeGguf(llama3, {
        metadata,
        tensors: [
          ...p.tensors.map((t) => ({
            name: t.name,
            type: t.type,
            shape: t.shape,
            data: p.tensorData(t.name),
          })),
          {
            name: "rope_freqs.weight",
            type: 0,
            shape: [factors.length],
            data: new Uint8Array(factors.buffer),
          },
        ],
      });
    } finally {
      p.close();
    }
    await add("llama3", llama3, llama3);
    for (const arch of ["qwen2", "gemma3", "gemma3n"]) {
      const m = await newModelGguf({ arch, seed: 5, out: join(dir, `${arch}.gguf`), tokenizerFrom: stories });
      await add(arch, m.out, m.out);
    }
    convertWithLlamaCpp(Object.values(out).map((c) => ({ dir: c.hf, out: c.converted, outtype: "f32" })));
    return out;
  })();
  return prepared;
}

test(
  "stories260K + LoRA adapter → HF folder → convert_hf_to_gguf.py = the merged GGUF (tensors, logits, tokens)",
  { skip },
  async () => {
    const c = (await cases()).stories;
    assert.equal(c.merged, 4);
    assert.ok(c.files.includes("tokenizer.model"));
    assertSameTensors(c.expected, c.converted);

    const ref = await referenceLogits(c.expected, 512, TOKENS);
    const got = await referenceLogits(c.converted, 512, TOKENS);
    const d = maxLogSoftmaxDelta(ref, got);
    const effect = maxLogSoftmaxDelta(ref, await referenceLogits(c.base, 512, TOKENS));
    console.log(
      `# stories260K+LoRA via llama.cpp's converter: max |Δ log-softmax| ${d.toExponential(2)} (adapter effect ${effect.toFixed(3)})`,
    );
    assert.ok(effect > 0.05, `the adapter should change the logits (${effect})`);
    assert.ok(d <= 1e-4, `${d}`);

    // the tokenizer llama.cpp rebuilt from tokenizer.model + tokenizer_config.json tokenizes like the original
    const llama = await getLlamaCpp();
    const a = await llama.loadModel({ modelPath: c.expected });
    const b = await llama.loadModel({ modelPath: c.converted });
    try {
      for (const text of [
        "Once upon a time, Lily saw a big dog.",
        "  two  spaces\nand a newline",
        "ünïcödé 42",
      ]) {
        assert.deepEqual([...b.tokenize(text)], [...a.tokenize(text)], text);
        assert.equal(b.detokenize(b.tokenize(text) as Token[]), a.detokenize(a.tokenize(text) as Token[]));
      }
      assert.equal(b.tokens.bos, a.tokens.bos);
      assert.equal(b.tokens.eos, a.tokens.eos);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  },
);

test(
  "Llama 3 rope scaling: rope_freqs.weight → config.json rope_scaling → the converter's own factors",
  { skip },
  async () => {
    const c = (await cases()).llama3;
    const config = JSON.parse(readFileSync(join(c.hf, "config.json"), "utf8"));
    assert.deepEqual(config.rope_scaling, {
      rope_type: "llama3",
      factor: 32,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    });
    assert.equal(config.rope_theta, 500000);
    const x = openGguf(c.expected);
    const y = openGguf(c.converted);
    try {
      const a = new Float32Array(x.tensorData("rope_freqs.weight").slice().buffer);
      const b = new Float32Array(y.tensorData("rope_freqs.weight").slice().buffer);
      assert.ok(
        a.some((v) => v > 1.5),
        "some dimensions are scaled",
      );
      for (let i = 0; i < a.length; i++)
        assert.ok(Math.abs(a[i] - b[i]) <= 1e-6 * a[i], `factor ${i}: ${a[i]} vs ${b[i]}`);
    } finally {
      x.close();
      y.close();
    }
    const d = maxLogSoftmaxDelta(
      await referenceLogits(c.expected, 512, TOKENS),
      await referenceLogits(c.converted, 512, TOKENS),
    );
    console.log(`# llama3 rope scaling via llama.cpp's converter: max |Δ log-softmax| ${d.toExponential(2)}`);
    assert.ok(d <= 1e-4, `${d}`);
  },
);

for (const arch of ["qwen2", "gemma3", "gemma3n"] as const) {
  test(
    `${arch}: HF folder → convert_hf_to_gguf.py gives the original tensors and logits`,
    { skip },
    async () => {
      const c = (await cases())[arch];
      assertSameTensors(c.expected, c.converted);
      const d = maxLogSoftmaxDelta(
        await referenceLogits(c.expected, 512, TOKENS),
        await referenceLogits(c.converted, 512, TOKENS),
      );
      console.log(`# ${arch} via llama.cpp's converter: max |Δ log-softmax| ${d.toExponential(2)}`);
      assert.ok(d <= 1e-4, `${d}`);
    },
  );
}
