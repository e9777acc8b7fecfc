// Hugging Face checkpoint export (the round trip of every architecture is in hf-roundtrip.test.ts):
// tokenizers checked by llama.cpp's tokenization (SentencePiece and byte-level BPE with ChatML), an adapter merged on export equal to
// merge-then-export, dtypes, sharding, a quantized base, and bad inputs. The independent check with
// llama.cpp's convert_hf_to_gguf.py is in hf-llama-convert.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertLlama2c } from "../../lib/models/convert-llama2c.js";
import { convertHfToGguf } from "../../lib/models/convert-hf.js";
import { f16ToF32, toBf16, toF16 } from "../../lib/models/cast.js";
import { gguf, openGguf, writeGguf } from "../../lib/gguf/index.js";
import { mergeAdapter } from "../../lib/export/merge.js";
import { quantizeModel } from "../../lib/export/quantize.js";
import { exportHfCheckpoint } from "../../lib/export/hf-checkpoint.js";
import { parseByteSize } from "../../lib/cli/commands/export.js";
import { getLlamaCpp } from "../../lib/infer/llama.js";
import { DEFAULT_MODEL } from "../../lib/pipeline/default-model.js";
import { InputError } from "../../lib/util/errors.js";
import { sharedDir } from "../../lib/util/paths.js";
import { STORIES_TARGETS, writeRandomLoraAdapter } from "./random-adapter.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";
import { referenceLogits } from "../models/helpers.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const dir = mkdtempSync(join(tmpdir(), "tunekit-hf-export-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const TOKENS = [1, 403, 261, 378, 300, 5, 97, 140, 299, 260, 13, 400, 450, 2, 1, 77, 88, 311];

let stories: Promise<string> | undefined;
function storiesGguf(): Promise<string> {
  stories ??= (async () => {
    const src = join(shared!, "models", "stories260K");
    const out = join(dir, "stories260K.gguf");
    await convertLlama2c({
      checkpoint: join(src, "stories260K.bin"),
      tokenizer: join(src, "tok512.model"),
      out,
    });
    return out;
  })();
  return stories;
}

/** Compares every tensor's bytes; returns the number compared. */
function assertSameTensors(a: string, b: string, what: string): number {
  const x = openGguf(a);
  const y = openGguf(b);
  try {
    assert.deepEqual(
      y.tensors.map((t) => t.name).sort(),
      x.tensors.map((t) => t.name).sort(),
      `${what}: tensor names`,
    );
    for (const t of x.tensors) {
      assert.equal(y.tensor(t.name)!.type, t.type, `${what}: ${t.name} type`);
      assert.ok(
        Buffer.from(y.tensorData(t.name)).equals(Buffer.from(x.tensorData(t.name))),
        `${what}: ${t.name} differs`,
      );
    }
    return x.tensors.length;
  } finally {
    x.close();
    y.close();
  }
}

/** Token ids llama.cpp gives each text, for two models. */
async function sameTokenization(a: string, b: string, texts: string[]): Promise<void> {
  const llama = await getLlamaCpp();
  const ma = await llama.loadModel({ modelPath: a });
  const mb = await llama.loadModel({ modelPath: b });
  try {
    for (const t of texts) {
      assert.deepEqual([...mb.tokenize(t, true)], [...ma.tokenize(t, true)], `special-aware: ${t}`);
      assert.deepEqual([...mb.tokenize(t)], [...ma.tokenize(t)], t);
    }
    assert.equal(mb.tokens.bos, ma.tokens.bos);
    assert.equal(mb.tokens.eos, ma.tokens.eos);
  } finally {
    await ma.dispose();
    await mb.dispose();
  }
}

const TEXTS = [
  "Once upon a time, Lily saw a big dog.",
  "  two  spaces\nand a newline\t tab",
  "ünïcödé 42 — 12345",
];

test(
  "SentencePiece vocabulary: tokenizer.model and tokenizer.json each tokenize like the original in llama.cpp",
  { skip },
  async () => {
    const base = await storiesGguf();
    const hf = join(dir, "stories-hf");
    await exportHfCheckpoint({ model: base, out: hf, dtype: "f32" });
    const viaModel = join(dir, "stories-via-model.gguf");
    await convertHfToGguf({ dir: hf, out: viaModel, type: "f32" });
    await sameTokenization(base, viaModel, TEXTS);
    // without tokenizer.model the importer reads tokenizer.json (merges extracted from the SentencePiece scores)
    rmSync(join(hf, "tokenizer.model"));
    const viaJson = join(dir, "stories-via-json.gguf");
    await convertHfToGguf({ dir: hf, out: viaJson, type: "f32" });
    await sameTokenization(base, viaJson, TEXTS);
    const tj = JSON.parse(readFileSync(join(hf, "tokenizer.json"), "utf8"));
    assert.equal(tj.model.byte_fallback, true);
    assert.ok(tj.model.merges.length > 100, `${tj.model.merges.length} merges`);
    const tc = JSON.parse(readFileSync(join(hf, "tokenizer_config.json"), "utf8"));
    assert.deepEqual(
      [tc.bos_token, tc.eos_token, tc.unk_token, tc.add_bos_token],
      ["<s>", "</s>", "<unk>", true],
    );
  },
);

test(
  "byte-level BPE with ChatML (the embedded default model, f16): tokens, merges, template and tokenization survive",
  { skip: !existsSync(DEFAULT_MODEL) && "data/default-model is absent" },
  async () => {
    const hf = join(dir, "default-hf");
    const r = await exportHfCheckpoint({ model: DEFAULT_MODEL, out: hf });
    assert.equal(r.dtype, "f16");
    assert.ok(!r.files.some((f) => f.name === "tokenizer.model"));
    const back = join(dir, "default-back.gguf");
    await convertHfToGguf({ dir: hf, out: back, type: "f16" });
    const a = openGguf(DEFAULT_MODEL);
    const b = openGguf(back);
    try {
      // f16 matrices come back as they were; the f32 norm weights as their f16 rounding (HF keeps one dtype)
      for (const t of a.tensors) {
        const x = Buffer.from(a.tensorData(t.name));
        const y = Buffer.from(b.tensorData(t.name));
        if (t.type !== 0) assert.ok(y.equals(x), t.name);
        else {
          const want = Float32Array.from(
            new Float32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.length)),
            (v) => f16ToF32(toF16(v)),
          );
          assert.deepEqual(
            new Float32Array(y.buffer.slice(y.byteOffset, y.byteOffset + y.length)),
            want,
            t.name,
          );
        }
      }
      for (const k of [
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.chat_template",
      ])
        assert.deepEqual(b.get(k), a.get(k), k);
    } finally {
      a.close();
      b.close();
    }
    await sameTokenization(DEFAULT_MODEL, back, [
      ...TEXTS,
      "<|im_start|>user\nHow do I brew coffee?<|im_end|>\n<|im_start|>assistant\n",
    ]);
  },
);

test(
  "an adapter merged on export equals merge-to-GGUF then export (f32 and bf16); bf16 is one rounding",
  { skip },
  async () => {
    const base = await storiesGguf();
    const adapter = join(dir, "stories-lora.gguf");
    await writeRandomLoraAdapter(adapter, { targets: STORIES_TARGETS, seed: 7 });
    const merged = join(dir, "stories-merged.gguf");
    await mergeAdapter({ model: base, adapter, out: merged, type: "f32", scale: 0.5 });
    for (const dtype of ["f32", "bf16"] as const) {
      const a = await exportHfCheckpoint({
        model: base,
        adapter,
        scale: 0.5,
        out: join(dir, `merged-a-${dtype}`),
        dtype,
      });
      const b = await exportHfCheckpoint({ model: merged, out: join(dir, `merged-b-${dtype}`), dtype });
      assert.equal(a.merged, 4);
      assert.equal(b.merged, 0);
      const st = (p: string) => readFileSync(join(p, "model.safetensors"));
      assert.ok(
        st(join(dir, `merged-a-${dtype}`)).equals(st(join(dir, `merged-b-${dtype}`))),
        `${dtype}: safetensors differ`,
      );
    }
    // every bf16 value is the rounding of the f32 merge (to nearest even), nothing rounded twice
    const back = join(dir, "merged-bf16-back.gguf");
    await convertHfToGguf({ dir: join(dir, "merged-a-bf16"), out: back, type: "f32" });
    const x = openGguf(merged);
    const y = openGguf(back);
    try {
      for (const name of ["blk.2.attn_v.weight", "blk.3.ffn_down.weight", "blk.4.ffn_up.weight"]) {
        const want = new Float32Array(x.tensorData(name).slice().buffer);
        const got = new Float32Array(y.tensorData(name).slice().buffer);
        const rounded = Float32Array.from(
          want,
          (v) => new Float32Array(new Uint32Array([toBf16(v) << 16]).buffer)[0],
        );
        assert.deepEqual(got, rounded, name);
      }
    } finally {
      x.close();
      y.close();
    }
    const d = maxLogSoftmaxDelta(
      await referenceLogits(merged, 512, TOKENS),
      await referenceLogits(back, 512, TOKENS),
    );
    console.log(
      `# merged stories260K exported in bf16 vs the f32 merge: max |Δ log-softmax| ${d.toExponential(2)}`,
    );
    assert.ok(d > 0 && d < 0.5, `${d}`); // a 260K-parameter model is sharp: bf16 moves it by ~0.1 nat
  },
);

test(
  "a quantized base is dequantized (Q8_0 → f32 equals llama.cpp-style dequantization); default dtype bf16",
  { skip },
  async () => {
    const base = await storiesGguf();
    const q8 = join(dir, "stories-q8.gguf");
    await quantizeModel({ in: base, out: q8, type: "Q8_0" });
    const deq = join(dir, "stories-q8-f32.gguf");
    await quantizeModel({ in: q8, out: deq, type: "F32" });
    const r = await exportHfCheckpoint({ model: q8, out: join(dir, "q8-hf"), dtype: "f32" });
    assert.ok(r.dequantized > 0);
    const back = join(dir, "q8-back.gguf");
    await convertHfToGguf({ dir: join(dir, "q8-hf"), out: back, type: "f32" });
    assertSameTensors(deq, back, "Q8_0 base");
    // converting a row at a time gives the same bytes as whole tensors (quantized and float sources)
    for (const [model, dtype] of [
      [q8, "f16"],
      [base, "bf16"],
      [base, "f32"],
    ] as const) {
      const whole = await exportHfCheckpoint({ model, dtype, out: join(dir, "blocks-whole") });
      const rows = await exportHfCheckpoint({
        model,
        dtype,
        out: join(dir, "blocks-rows"),
        blockValues: 100,
      });
      assert.equal(rows.tensors, whole.tensors);
      assert.ok(
        readFileSync(join(dir, "blocks-rows", "model.safetensors")).equals(
          readFileSync(join(dir, "blocks-whole", "model.safetensors")),
        ),
        `${dtype} from ${model}`,
      );
    }
    const d = await exportHfCheckpoint({ model: q8, out: join(dir, "q8-hf-default") });
    assert.equal(d.dtype, "bf16");
    assert.equal(
      JSON.parse(readFileSync(join(dir, "q8-hf-default", "config.json"), "utf8")).torch_dtype,
      "bfloat16",
    );
  },
);

test(
  "bad inputs: InputError and nothing written; an earlier checkpoint folder is replaced, other folders are not",
  { skip },
  async () => {
    const base = await storiesGguf();
    const out = join(dir, "bad-out");
    await assert.rejects(
      exportHfCheckpoint({ model: base, adapter: join(dir, "no-such-adapter.gguf"), out }),
      (e) => e instanceof InputError && /adapter not found/.test(e.message),
    );
    await assert.rejects(
      exportHfCheckpoint({ model: base, out, dtype: "q4" as "f16" }),
      (e) => e instanceof InputError && /f32, f16 or bf16/.test(e.message),
    );
    await assert.rejects(exportHfCheckpoint({ model: base, out, maxShardBytes: 0 }), InputError);
    await assert.rejects(exportHfCheckpoint({ model: join(dir, "missing.gguf"), out }), InputError);
    await assert.rejects(
      exportHfCheckpoint({ model: base, adapter: base, out }),
      (e) => e instanceof InputError,
    );
    assert.ok(!existsSync(out));

    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    await assert.rejects(
      exportHfCheckpoint({ model: base, out: file }),
      (e) => e instanceof InputError && /is a file/.test(e.message),
    );
    const other = join(dir, "other-folder");
    mkdirSync(other);
    writeFileSync(join(other, "notes.txt"), "keep me");
    await assert.rejects(
      exportHfCheckpoint({ model: base, out: other }),
      (e) => e instanceof InputError && /not a checkpoint folder/.test(e.message),
    );
    assert.equal(readFileSync(join(other, "notes.txt"), "utf8"), "keep me");

    // an architecture without a Hugging Face mapping (the stories model relabelled)
    const alien = join(dir, "alien.gguf");
    const a = openGguf(base);
    try {
      const metadata = new Map(a.metadata);
      metadata.set("general.architecture", gguf.str("phi3"));
      await writeGguf(alien, {
        metadata,
        tensors: a.tensors.map((t) => ({
          name: t.name,
          type: t.type,
          shape: t.shape,
          data: a.tensorData(t.name),
        })),
      });
    } finally {
      a.close();
    }
    await assert.rejects(
      exportHfCheckpoint({ model: alien, out }),
      (e) => e instanceof InputError && /phi3/.test(e.message),
    );
    assert.ok(!existsSync(out));

    // like merge, which overwrites its output file: an earlier checkpoint folder is replaced as a whole
    const ckpt = join(dir, "ckpt");
    await exportHfCheckpoint({ model: base, out: ckpt, maxShardBytes: 400_000 });
    assert.ok(existsSync(join(ckpt, "model.safetensors.index.json")));
    await exportHfCheckpoint({ model: base, out: ckpt });
    assert.ok(!existsSync(join(ckpt, "model.safetensors.index.json")));
    assert.ok(readdirSync(ckpt).includes("model.safetensors"));
    // …but never a folder that holds an input
    const inside = join(ckpt, "model.gguf");
    writeFileSync(inside, readFileSync(base));
    await assert.rejects(
      exportHfCheckpoint({ model: inside, out: ckpt }),
      (e) => e instanceof InputError && /holds an input/.test(e.message),
    );
    assert.ok(existsSync(inside));
  },
);

test("CLI: export-hf --json and its sizes; errors exit 1 with one line", { skip }, async () => {
  assert.equal(parseByteSize("5GB"), 5e9);
  assert.equal(parseByteSize("2GiB"), 2 * 2 ** 30);
  assert.equal(parseByteSize("500kB"), 500_000);
  assert.throws(() => parseByteSize("lots"), InputError);
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "lib/cli/main.ts", ...args], { encoding: "utf8" });
  const out = join(dir, "cli-hf");
  const ok = cli(
    "export-hf",
    "--model",
    await storiesGguf(),
    "--out",
    out,
    "--dtype",
    "f16",
    "--max-shard-size",
    "300kB",
    "--json",
  );
  assert.equal(ok.status, 0, ok.stderr);
  const r = JSON.parse(ok.stdout);
  assert.equal(r.dtype, "f16");
  assert.equal(r.shards.length, 2);
  assert.deepEqual(r.files.map((f: { name: string }) => f.name).sort(), readdirSync(out).sort());
  const bad = cli(
    "export-hf",
    "--model",
    await storiesGguf(),
    "--out",
    join(dir, "cli-bad"),
    "--dtype",
    "int8",
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^tunekit: .*f32, f16 or bf16/);
});
