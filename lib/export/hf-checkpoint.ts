// GGUF (base model, or base + LoRA adapter merged) → Hugging Face checkpoint folder: config.json,
// generation_config.json, model.safetensors (or model-0000i-of-0000N.safetensors + the index), and the
// tokenizer files. The inverse of llama.cpp's convert_hf_to_gguf.py (and of tunekit's convertHfToGguf):
// its tensor names (lib/models/hf-names.ts), shapes in PyTorch order, Llama's Q/K rows back from
// llama.cpp's interleaved RoPE pairs to HF's two halves per head, Gemma's norm weights without the +1
// the converter adds (Gemma's RMSNorm multiplies by 1 + w). A quantized base is dequantized; an adapter is
// merged by mergeAdapter into a temporary GGUF in the output type (one rounding per weight), which is
// then written out. The folder appears complete or not at all (writeDirAtomically).
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { GgmlType, isQuantized, rowBytes } from "../gguf/ggml-types.js";
import { openGguf, toPlain, type GgufFile, type GgufTensorInfo } from "../gguf/index.js";
import { dequantize } from "../engine/quant.js";
import { castF32, floatBytesToF32 } from "../models/cast.js";
import { readModelConfig } from "../models/config.js";
import { HF_STACKED, hfNameOfGguf, isHfExportArch } from "../models/hf-names.js";
import { unpermuteQkRows } from "../lora/peft.js";
import type { TokenizerMetadata } from "../tokenizer/metadata.js";
import { writeDirAtomically, writeFileAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import {
  writeSafetensorsStreamed,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsEntry,
} from "../util/safetensors.js";
import { mergeAdapter } from "./merge.js";
import { hfConfigJson, hfGenerationConfig } from "./hf/config-json.js";
import { hfTokenizerFiles } from "./hf/tokenizer-files.js";

/** Float types a checkpoint can be written in. */
export type HfDtype = "f32" | "f16" | "bf16";

/** Options of {@link exportHfCheckpoint}. */
export interface HfCheckpointOptions {
  /** Base model GGUF (f32, f16, bf16 or quantized; llama, qwen2, qwen3, gemma, gemma2, gemma3). */
  model: string;
  /** LoRA adapter to merge first: llama.cpp LoRA GGUF or PEFT folder (as mergeAdapter takes). */
  adapter?: string;
  /** Output folder. Replaced only if it is empty or an earlier checkpoint folder (has config.json). */
  out: string;
  /** dtype of every tensor. Default: the model's matrix type when f32/f16/bf16, else bf16. */
  dtype?: HfDtype;
  /** Largest shard in bytes; more → model-0000i-of-0000N.safetensors + index. Default 5e9 (transformers' "5GB"). */
  maxShardBytes?: number;
  /** Multiplier of the adapter's own scale (llama.cpp --lora-scaled). Default 1. */
  scale?: number;
  /** Values converted at a time (whole rows; bounds memory on large embeddings). Default 16 M. */
  blockValues?: number;
}

/** What was written. */
export interface HfCheckpointResult {
  out: string;
  arch: string;
  dtype: HfDtype;
  /** Number of tensors in the safetensors files. */
  tensors: number;
  /** Safetensors file names, in order. */
  shards: string[];
  /** Every file of the folder with its size in bytes. */
  files: Array<{ name: string; bytes: number }>;
  /** Total size in bytes. */
  bytes: number;
  /** Matrices that received the adapter's update (0 without an adapter). */
  merged: number;
  /** Quantized tensors written dequantized. */
  dequantized: number;
  /** Things left out or approximated (e.g. a tokenizer.model SentencePiece would not load). */
  warnings: string[];
}

const DTYPES: Record<HfDtype, { ggml: number; st: SafetensorsEntry["dtype"] }> = {
  f32: { ggml: GgmlType.F32, st: "F32" },
  f16: { ggml: GgmlType.F16, st: "F16" },
  bf16: { ggml: GgmlType.BF16, st: "BF16" },
};

/** Writes the Hugging Face checkpoint folder; see {@link HfCheckpointOptions}. */
export async function exportHfCheckpoint(o: HfCheckpointOptions): Promise<HfCheckpointResult> {
  if (o.dtype !== undefined && !DTYPES[o.dtype])
    throw new InputError(`dtype must be f32, f16 or bf16, got "${String(o.dtype)}"`, { field: "dtype" });
  const maxShard = o.maxShardBytes ?? 5e9;
  if (!Number.isSafeInteger(maxShard) || maxShard < 1)
    throw new InputError(`maxShardBytes must be a positive integer, got ${maxShard}`, {
      field: "maxShardBytes",
    });
  if (o.adapter !== undefined && !existsSync(o.adapter))
    throw new InputError("adapter not found", { file: o.adapter });
  checkOutput(o.out);
  // the folder is replaced as a whole: it must not hold the inputs
  for (const input of [o.model, o.adapter])
    if (input !== undefined && !relative(resolve(o.out), resolve(input)).startsWith(".."))
      throw new InputError("the output folder holds an input of the export: choose another --out", {
        file: input,
      });

  const base = openGguf(o.model);
  let dtype: HfDtype;
  try {
    const arch = base.getString("general.architecture");
    if (!isHfExportArch(arch))
      throw new InputError(
        `exporting ${arch} as a Hugging Face checkpoint is not supported (supported: llama, qwen2, qwen3, gemma, gemma2, gemma3, gemma3n)`,
        { file: o.model, field: "general.architecture" },
      );
    readModelConfig(base); // checks the hyperparameters before anything is written
    dtype = o.dtype ?? defaultDtype(base);
  } finally {
    base.close();
  }

  let result: HfCheckpointResult | undefined;
  await writeDirAtomically(o.out, async (dir) => {
    let source = o.model;
    let merged = 0;
    let dequantizedByMerge = 0;
    const tmpGguf = join(dir, ".merged.gguf");
    if (o.adapter !== undefined) {
      const r = await mergeAdapter({
        model: o.model,
        adapter: o.adapter,
        out: tmpGguf,
        type: dtype,
        ...(o.scale !== undefined ? { scale: o.scale } : {}),
      });
      merged = r.merged;
      dequantizedByMerge = r.dequantized;
      source = tmpGguf;
    }
    const f = openGguf(source);
    try {
      const w = writeCheckpoint(f, dir, dtype, maxShard, o.blockValues ?? 2 ** 24);
      result = { ...w, out: o.out, merged, dequantized: w.dequantized + dequantizedByMerge };
    } finally {
      f.close();
      rmSync(tmpGguf, { force: true });
    }
  });
  return result!;
}

/** The matrix type of the model when it is a float type, else bf16 (a quantized model). */
function defaultDtype(f: GgufFile): HfDtype {
  const t = f.tensors.find((x) => x.name.endsWith("attn_q.weight"))?.type;
  return t === GgmlType.F32 ? "f32" : t === GgmlType.F16 ? "f16" : "bf16";
}

/** The output folder must not be a file nor a folder holding something other than a checkpoint. */
function checkOutput(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory())
    throw new InputError("the output exists and is a file, not a checkpoint folder", { file: out });
  const names = readdirSync(out);
  if (names.length > 0 && !names.includes("config.json"))
    throw new InputError(
      "the output folder exists and is not a checkpoint folder (no config.json): refusing to replace it",
      { file: out },
    );
}

function writeCheckpoint(
  f: GgufFile,
  dir: string,
  dtype: HfDtype,
  maxShard: number,
  blockValues: number,
): Omit<HfCheckpointResult, "out" | "merged"> {
  const config = readModelConfig(f);
  const arch = config.arch;
  if (!isHfExportArch(arch)) throw new InputError(`unsupported architecture ${arch}`, { file: f.path });
  const target = DTYPES[dtype];
  const warnings: string[] = [];
  let dequantized = 0;

  // convert_hf_to_gguf adds 1 to Gemma 1–3 norm weights (their RMSNorm scales by 1 + w; Gemma 3n's by w)
  const normShift = arch === "gemma" || arch === "gemma2" || arch === "gemma3";
  /** Llama Q/K rows: the one change that moves rows across a whole head (the tensor is done at once). */
  const permuted = (t: GgufTensorInfo) => arch === "llama" && /\.attn_[qk]\.(weight|bias)$/.test(t.name);
  /** The tensor's values as f32 with the converter's changes undone. */
  const valuesOf = (t: GgufTensorInfo): Float32Array => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const bytes = f.tensorData(t.name);
    let x = isQuantized(t.type) ? dequantize(t.type, bytes, n) : floatBytesToF32(t.type, bytes);
    // llama.cpp's Llama Q/K rows interleave each head's rotary pairs; HF keeps them as two halves
    if (permuted(t)) {
      const heads = t.name.includes(".attn_q.") ? config.nHead : config.nHeadKv;
      x = unpermuteQkRows(
        x,
        t.shape.length > 1 ? t.shape[1] : t.shape[0],
        t.shape.length > 1 ? t.shape[0] : 1,
        heads,
      );
    }
    if (normShift && t.name.endsWith("norm.weight")) for (let i = 0; i < x.length; i++) x[i] -= 1;
    return x;
  };
  /** A tensor without row permutation, converted a block of rows (≤ blockValues values) at a time. */
  function* rowBlocks(t: GgufTensorInfo): Generator<Uint8Array> {
    const ne0 = t.shape[0];
    const rows = t.shape.slice(1).reduce((a, b) => a * b, 1);
    const rb = rowBytes(t.type, ne0);
    const shift = normShift && t.name.endsWith("norm.weight");
    const per = Math.max(1, Math.floor(blockValues / ne0));
    for (let r = 0; r < rows; r += per) {
      const k = Math.min(per, rows - r);
      const bytes = f.tensorDataRange(t.name, r * rb, k * rb);
      if (t.type === target.ggml && !shift) {
        yield bytes; // same float type: the bytes as they are (a view of the mapped file, written at once)
        continue;
      }
      const x = isQuantized(t.type) ? dequantize(t.type, bytes, k * ne0) : floatBytesToF32(t.type, bytes);
      if (shift) for (let i = 0; i < x.length; i++) x[i] -= 1;
      yield castF32(x, target.ggml);
    }
  }
  const entries: SafetensorsEntry[] = f.tensors.flatMap((t): SafetensorsEntry[] => {
    // Llama 3's frequency factors are config.json's rope_scaling in HF (config-json.ts), not a tensor
    if (t.name === "rope_freqs.weight") return [];
    if (isQuantized(t.type)) dequantized++;
    const stacked = arch === "gemma3n" ? HF_STACKED[t.name] : undefined;
    if (stacked) {
      // [ne0, ne1, k] is k matrices (ne1 rows of ne0) that the converter stacked: one HF tensor each
      const [ne0, ne1, k] = t.shape;
      return Array.from({ length: k }, (_, i) => ({
        name: `${stacked}.${i}.weight`,
        dtype: target.st,
        shape: [ne1, ne0],
        data: () => castF32(valuesOf(t).subarray(i * ne0 * ne1, (i + 1) * ne0 * ne1), target.ggml),
      }));
    }
    const hf = hfNameOfGguf(t.name, arch);
    if (!hf)
      throw new InputError(`tensor "${t.name}" has no Hugging Face name for ${arch}`, { file: f.path });
    return [
      {
        name: hf,
        dtype: target.st,
        shape: [...t.shape].reverse(),
        data: () => (permuted(t) ? castF32(valuesOf(t), target.ggml) : rowBlocks(t)),
      },
    ];
  });

  // tokenizer and config first: their errors come before gigabytes are written
  const meta = tokenizerMetadataOf(f);
  const tok = hfTokenizerFiles(meta, {
    contextLength: config.nCtxTrain,
    sentencePieceClass: arch.startsWith("gemma") ? "GemmaTokenizer" : "LlamaTokenizer",
    where: f.path,
  });
  warnings.push(...tok.warnings);
  for (const [name, data] of tok.files) writeFileAtomic(join(dir, name), data);
  const embd = f.tensor("token_embd.weight");
  const hfConfig = hfConfigJson({
    arch,
    config: { ...config, nVocab: embd?.shape[1] ?? config.nVocab },
    untiedOutput: f.tensor("output.weight") !== undefined,
    dtype,
    ids: tok.ids,
    file: f,
  });
  // shards of at most maxShard bytes (a larger tensor gets a shard of its own), in file order
  const shards: SafetensorsEntry[][] = [];
  let size = 0;
  for (const e of entries) {
    const b = e.shape.reduce((a, c) => a * c, 1) * SAFETENSORS_DTYPE_BYTES[e.dtype];
    if (shards.length === 0 || (size + b > maxShard && size > 0)) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(e);
    size += b;
  }
  const pad = (i: number) => String(i).padStart(5, "0");
  const shardNames =
    shards.length === 1
      ? ["model.safetensors"]
      : shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  shards.forEach((s, i) => {
    writeSafetensorsStreamed(join(dir, shardNames[i]), s, { format: "pt" });
    for (const e of s) {
      weightMap[e.name] = shardNames[i];
      totalSize += e.shape.reduce((a, c) => a * c, 1) * SAFETENSORS_DTYPE_BYTES[e.dtype];
    }
  });
  if (shards.length > 1)
    writeFileAtomic(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2),
    );

  writeFileAtomic(join(dir, "config.json"), JSON.stringify(hfConfig, null, 2));
  writeFileAtomic(join(dir, "generation_config.json"), JSON.stringify(hfGenerationConfig(tok.ids), null, 2));

  const files = readdirSync(dir)
    .filter((n) => !n.startsWith("."))
    .sort()
    .map((name) => ({ name, bytes: statSync(join(dir, name)).size }));
  return {
    arch,
    dtype,
    tensors: entries.length,
    shards: shardNames,
    files,
    bytes: files.reduce((a, x) => a + x.bytes, 0),
    dequantized,
    warnings,
  };
}

/** The tokenizer.* metadata of a GGUF as plain values. */
function tokenizerMetadataOf(f: GgufFile): TokenizerMetadata {
  const out: Record<string, unknown> = {};
  for (const [k, v] of f.metadata) if (k.startsWith("tokenizer.")) out[k] = toPlain(v);
  if (!Array.isArray(out["tokenizer.ggml.tokens"]))
    throw new InputError("the model has no tokenizer (tokenizer.ggml.tokens)", {
      file: f.path,
      field: "tokenizer.ggml.tokens",
    });
  return out as unknown as TokenizerMetadata;
}
