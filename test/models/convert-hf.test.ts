// Hugging Face checkpoint → GGUF: checkpoints written here in HF layout (sharded f32 safetensors,
// config.json, tokenizer.json) from tunekit random models, converted back and checked by node-llama-cpp.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newModelGguf } from "../../lib/models/new-model.js";
import { convertHfToGguf, permuteQk } from "../../lib/models/convert-hf.js";
import { Model } from "../../lib/models/model.js";
import { openGguf } from "../../lib/gguf/index.js";
import { InputError } from "../../lib/util/errors.js";
import { sharedDir } from "../../lib/util/paths.js";
import { logSoftmax, referenceLogits } from "./helpers.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const dir = mkdtempSync(join(tmpdir(), "tunekit-convert-hf-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const TOKENS = [1, 40, 299, 7, 120, 3, 260, 281, 100, 2, 13, 200, 270, 290, 5, 66, 77, 88, 99, 111, 222, 250];

/** A SentencePiece-style tokenizer.json (byte fallback) of 300 pieces, as transformers writes one. */
function tokenizerJson() {
  const pieces = ["<unk>", "<s>", "</s>"];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  pieces.push("\u2581");
  for (let c = 0; c < 26; c++) pieces.push(String.fromCharCode(97 + c));
  for (let c = 0; c < 14; c++) pieces.push("\u2581" + String.fromCharCode(97 + c));
  const vocab = Object.fromEntries(pieces.map((p, i) => [p, i]));
  const merges = pieces.filter((p) => p.length === 2 && p.startsWith("\u2581")).map((p) => `\u2581 ${p[1]}`);
  return {
    pieces,
    json: {
      added_tokens: [0, 1, 2].map((id) => ({ id, content: pieces[id], special: true })),
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "Prepend", prepend: "\u2581" },
          { type: "Replace", pattern: { String: " " }, content: "\u2581" },
        ],
      },
      pre_tokenizer: null,
      decoder: { type: "Sequence", decoders: [] },
      model: { type: "BPE", byte_fallback: true, fuse_unk: true, vocab, merges },
    },
  };
}

const CLASS = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
  gemma: "GemmaForCausalLM",
  gemma2: "Gemma2ForCausalLM",
  gemma3: "Gemma3ForCausalLM",
} as const;

/** HF name of a GGUF tensor (the inverse of llama.cpp's mapping). */
function hfName(name: string, arch: string): string {
  const fixed: Record<string, string> = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
  };
  if (fixed[name]) return fixed[name];
  const m = /^blk\.(\d+)\.(.+)\.(weight|bias)$/.exec(name)!;
  const g23 = arch === "gemma2" || arch === "gemma3";
  const map: Record<string, string> = {
    attn_q: "self_attn.q_proj",
    attn_k: "self_attn.k_proj",
    attn_v: "self_attn.v_proj",
    attn_output: "self_attn.o_proj",
    attn_q_norm: "self_attn.q_norm",
    attn_k_norm: "self_attn.k_norm",
    attn_norm: "input_layernorm",
    ffn_norm: g23 ? "pre_feedforward_layernorm" : "post_attention_layernorm",
    post_attention_norm: "post_attention_layernorm",
    post_ffw_norm: "post_feedforward_layernorm",
    ffn_gate: "mlp.gate_proj",
    ffn_up: "mlp.up_proj",
    ffn_down: "mlp.down_proj",
  };
  return `model.layers.${m[1]}.${map[m[2]]}.${m[3]}`;
}

/** Inverse of permuteQk (HF halves ← llama.cpp interleaved). */
function unpermuteQk(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const hd = rows / nHead;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++)
    for (let s = 0; s < 2; s++)
      for (let j = 0; j < half; j++)
        out.set(
          w.subarray((h * hd + j * 2 + s) * cols, (h * hd + j * 2 + s + 1) * cols),
          (h * hd + s * half + j) * cols,
        );
  return out;
}

/** Bytes of `x` as BF16 by truncation (exactly representable results are what the test compares). */
function bf16Bytes(x: Float32Array): Uint8Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return new Uint8Array(Uint16Array.from(u, (b) => b >>> 16).buffer);
}

function writeSafetensors(
  path: string,
  tensors: Array<{ name: string; shape: number[]; data: Float32Array }>,
  dtype: "F32" | "BF16" = "F32",
): void {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const blobs = tensors.map((t) =>
    dtype === "F32" ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : bf16Bytes(t.data),
  );
  let off = 0;
  tensors.forEach((t, i) => {
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + blobs[i].byteLength] };
    off += blobs[i].byteLength;
  });
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...blobs]));
}

/** Writes the tunekit model `gguf` as a Hugging Face checkpoint folder (two shards + index). */
function writeHfCheckpoint(
  ggufPath: string,
  out: string,
  arch: keyof typeof CLASS,
  dtype: "F32" | "BF16" = "F32",
): void {
  mkdirSync(out, { recursive: true });
  const f = openGguf(ggufPath);
  const m = Model.load(ggufPath);
  const c = m.config;
  m.dispose();
  const tensors = f.tensors.map((t) => {
    const b = f.tensorData(t.name);
    let data = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const shape = [...t.shape].reverse();
    if (arch === "llama" && t.name.endsWith("attn_q.weight"))
      data = unpermuteQk(data, shape[0], shape[1], c.nHead);
    if (arch === "llama" && t.name.endsWith("attn_k.weight"))
      data = unpermuteQk(data, shape[0], shape[1], c.nHeadKv);
    if (arch.startsWith("gemma") && t.name.endsWith("norm.weight")) data = data.map((v) => v - 1);
    return { name: hfName(t.name, arch), shape, data };
  });
  f.close();
  const half = Math.ceil(tensors.length / 2);
  const shards = [tensors.slice(0, half), tensors.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(join(out, file), s, dtype);
    for (const t of s) weightMap[t.name] = file;
  });
  writeFileSync(
    join(out, "model.safetensors.index.json"),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  const config = {
    architectures: [CLASS[arch]],
    model_type: arch,
    hidden_size: c.nEmbd,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    num_key_value_heads: c.nHeadKv,
    head_dim: c.headDim,
    intermediate_size: c.nFf,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeBase,
    max_position_embeddings: c.nCtxTrain,
    vocab_size: c.nVocab,
    tie_word_embeddings: !tensors.some((t) => t.name === "lm_head.weight"),
    ...(c.slidingWindow ? { sliding_window: c.slidingWindow } : {}),
    ...(arch === "gemma2"
      ? {
          attn_logit_softcapping: c.attnSoftcap,
          final_logit_softcapping: c.finalSoftcap,
          query_pre_attn_scalar: c.headDim,
        }
      : {}),
    ...(arch === "gemma3" ? { rope_local_base_freq: c.ropeBaseSwa, query_pre_attn_scalar: c.headDim } : {}),
  };
  writeFileSync(join(out, "config.json"), JSON.stringify(config));
  writeFileSync(join(out, "tokenizer.json"), JSON.stringify(tokenizerJson().json));
}

test("permuteQk interleaves each head's two halves (hand-computed)", () => {
  // one column, 2 heads of 4 rows: HF rows [x0 x1 y0 y1] per head → llama.cpp [x0 y0 x1 y1]
  const w = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
  assert.deepEqual([...permuteQk(w, 8, 1, 2)], [0, 2, 1, 3, 10, 12, 11, 13]);
});

for (const arch of Object.keys(CLASS) as Array<keyof typeof CLASS>) {
  test(
    `${arch}: HF checkpoint → GGUF equals the original tensors and matches llama.cpp`,
    { skip },
    async () => {
      const vocab = tokenizerJson().pieces.length;
      const orig = await newModelGguf({ arch, seed: 21, out: join(dir, `${arch}-orig.gguf`), vocab });
      const hf = join(dir, `${arch}-hf`);
      writeHfCheckpoint(orig.out, hf, arch);
      const conv = await convertHfToGguf({ dir: hf, out: join(dir, `${arch}-conv.gguf`), type: "f32" });
      assert.equal(conv.arch, arch);
      const a = openGguf(orig.out);
      const b = openGguf(conv.out);
      try {
        assert.deepEqual(b.tensors.map((t) => t.name).sort(), a.tensors.map((t) => t.name).sort());
        for (const t of a.tensors)
          assert.ok(
            Buffer.from(b.tensorData(t.name)).equals(Buffer.from(a.tensorData(t.name))),
            `${arch}: ${t.name} differs`,
          );
        assert.equal(
          b.get("tokenizer.ggml.tokens") instanceof Array &&
            (b.get("tokenizer.ggml.tokens") as string[]).length,
          vocab,
        );
      } finally {
        a.close();
        b.close();
      }
      const ref = await referenceLogits(conv.out, vocab, TOKENS);
      const m = Model.load(orig.out);
      const ours = m.logits(TOKENS);
      m.dispose();
      let worst = 0;
      for (let t = 0; t < TOKENS.length; t++) {
        const x = logSoftmax(ours[t]);
        const y = logSoftmax(ref[t]);
        for (let i = 0; i < vocab; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
      }
      assert.ok(worst <= 5e-3, `${arch}: max |Δ log-softmax| ${worst}`);
      console.log(
        `# ${arch}: converted model in llama.cpp vs tunekit original: max |Δ log-softmax| = ${worst.toExponential(2)}`,
      );
    },
  );
}

test("f16/bf16 output types and a bad config are handled", { skip }, async () => {
  const hf = join(dir, "llama-hf");
  for (const type of ["f16", "bf16"] as const) {
    const r = await convertHfToGguf({ dir: hf, out: join(dir, `llama-${type}.gguf`), type });
    const m = Model.load(r.out);
    assert.equal(m.config.arch, "llama");
    m.dispose();
  }
  const bad = join(dir, "bad-hf");
  mkdirSync(bad);
  writeFileSync(join(bad, "config.json"), JSON.stringify({ architectures: ["MambaForCausalLM"] }));
  await assert.rejects(
    convertHfToGguf({ dir: bad, out: join(dir, "bad.gguf") }),
    (e: unknown) => e instanceof InputError && /MambaForCausalLM/.test(e.message),
  );
});

test("a BF16 checkpoint converts to the same values in f32 and loads in llama.cpp", { skip }, async () => {
  const vocab = tokenizerJson().pieces.length;
  const orig = await newModelGguf({ arch: "qwen3", seed: 4, out: join(dir, "bf16-orig.gguf"), vocab });
  const hf = join(dir, "bf16-hf");
  writeHfCheckpoint(orig.out, hf, "qwen3", "BF16");
  const conv = await convertHfToGguf({ dir: hf, out: join(dir, "bf16-conv.gguf"), type: "f32" });
  const a = openGguf(orig.out);
  const b = openGguf(conv.out);
  try {
    for (const t of a.tensors) {
      const x = new Float32Array(a.tensorData(t.name).slice().buffer);
      const y = new Float32Array(b.tensorData(t.name).slice().buffer);
      const truncated = new Float32Array(new Uint32Array(x.buffer).map((u) => u & 0xffff0000).buffer);
      assert.deepEqual(y, truncated, t.name);
    }
  } finally {
    a.close();
    b.close();
  }
  const ref = await referenceLogits(conv.out, vocab, TOKENS);
  assert.equal(ref.length, TOKENS.length);
  assert.ok(ref.every((row) => row.every(Number.isFinite)));
});
