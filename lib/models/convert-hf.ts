// Hugging Face checkpoint folder (config.json + *.safetensors, sharded or not, f32/f16/bf16) → GGUF, for
// the architectures tunekit runs, with llama.cpp's converter conventions (convert_hf_to_gguf.py and
// conversion/{llama,qwen,gemma}.py): its tensor names, the Q/K row permutation of Llama (HF keeps each
// head's rotary pairs as two halves, llama.cpp's NORMAL RoPE wants them interleaved), and Gemma norm
// weights stored with the +1 that Gemma's RMSNorm applies at run time.
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { GgmlType } from "../gguf/ggml-types.js";
import { writeGguf, type GgufMetadataValue, type GgufTensorToWrite } from "../gguf/index.js";
import { hfDirTokenizerToGgufMetadata, tokenizerMetadataToGguf } from "../tokenizer/index.js";
import { InputError } from "../util/errors.js";
import { validateConfig, type Arch, type ModelConfig } from "./config.js";
import { architectureMetadata, configFor } from "./new-model.js";
import { castF32, f16ToF32 } from "./cast.js";
import { tensorSpecs } from "./tensors.js";
import { HF_CLASS, ggufNameOfHf } from "./hf-names.js";

/** What to convert. */
export interface ConvertHfOptions {
  /** Folder with config.json, *.safetensors (or model.safetensors.index.json) and tokenizer files. */
  dir: string;
  /** Output GGUF path (written atomically). */
  out: string;
  /** Type of the matrices (norms and biases stay f32). Default f16. */
  type?: "f32" | "f16" | "bf16";
}

export interface ConvertHfResult {
  out: string;
  arch: Arch;
  tensors: number;
  bytes: number;
}

const ARCH_BY_CLASS: Record<string, Arch> = Object.fromEntries(
  Object.entries(HF_CLASS).map(([arch, cls]) => [cls, arch as Arch]),
);

/** One tensor of a safetensors file. */
interface StEntry {
  file: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  start: number;
  end: number;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** The tensor table of one .safetensors file (8-byte header length, JSON header, data). */
export function readSafetensorsIndex(file: string): Map<string, StEntry> {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8)
      throw new InputError("too short for a safetensors header", { file });
    const n = Number(head.readBigUInt64LE(0));
    if (n < 2 || n > 100 << 20) throw new InputError(`absurd safetensors header length ${n}`, { file });
    const json = Buffer.alloc(n);
    if (readSync(fd, json, 0, n, 8) !== n) throw new InputError("truncated safetensors header", { file });
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    try {
      header = JSON.parse(json.toString("utf8"));
    } catch (e) {
      throw new InputError(`safetensors header is not JSON: ${(e as Error).message}`, { file });
    }
    const out = new Map<string, StEntry>();
    for (const [name, t] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const size = DTYPE_BYTES[t.dtype];
      if (!size)
        throw new InputError(`tensor "${name}" has dtype ${t.dtype} (supported: F32, F16, BF16)`, { file });
      const count = t.shape.reduce((a, b) => a * b, 1);
      const [s, e] = t.data_offsets;
      if (e - s !== count * size)
        throw new InputError(`tensor "${name}": ${e - s} bytes for ${t.dtype} [${t.shape}]`, { file });
      out.set(name, { file, dtype: t.dtype, shape: t.shape, start: 8 + n + s, end: 8 + n + e });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** A tensor's values as f32. */
function readF32(e: StEntry): Float32Array {
  const bytes = Buffer.alloc(e.end - e.start);
  const fd = openSync(e.file, "r");
  try {
    if (readSync(fd, bytes, 0, bytes.length, e.start) !== bytes.length)
      throw new InputError("truncated tensor data", { file: e.file });
  } finally {
    closeSync(fd);
  }
  const n = bytes.length / DTYPE_BYTES[e.dtype];
  const out = new Float32Array(n);
  if (e.dtype === "F32") for (let i = 0; i < n; i++) out[i] = bytes.readFloatLE(i * 4);
  else if (e.dtype === "BF16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = bytes.readUInt16LE(i * 2) << 16;
  } else for (let i = 0; i < n; i++) out[i] = f16ToF32(bytes.readUInt16LE(i * 2));
  return out;
}

/**
 * Llama's Q/K rows: HF orders each head's rows as [2 halves][headDim/2], llama.cpp as [headDim/2][2]
 * (convert_hf_to_gguf's LlamaModel.permute).
 */
export function permuteQk(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const hd = rows / nHead;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++)
    for (let s = 0; s < 2; s++)
      for (let j = 0; j < half; j++) {
        const from = (h * hd + s * half + j) * cols;
        out.set(w.subarray(from, from + cols), (h * hd + j * 2 + s) * cols);
      }
  return out;
}

/** Converts the checkpoint in `o.dir` to a GGUF; see {@link ConvertHfOptions}. */
export async function convertHfToGguf(o: ConvertHfOptions): Promise<ConvertHfResult> {
  const configPath = join(o.dir, "config.json");
  if (!existsSync(configPath))
    throw new InputError("no config.json in the checkpoint folder", { file: o.dir });
  let hp: Record<string, unknown>;
  try {
    hp = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, { file: configPath });
  }
  const cls = Array.isArray(hp.architectures) ? String(hp.architectures[0]) : "";
  const arch = ARCH_BY_CLASS[cls];
  if (!arch)
    throw new InputError(
      `architecture "${cls}" is not supported (supported: ${Object.keys(ARCH_BY_CLASS).join(", ")})`,
      { file: configPath, field: "architectures" },
    );
  const num = (key: string, fallback?: number): number => {
    const v = hp[key];
    if (typeof v === "number") return v;
    if (fallback !== undefined) return fallback;
    throw new InputError(`missing number "${key}"`, { file: configPath, field: key });
  };
  const gemma = arch.startsWith("gemma");

  const entries = new Map<string, StEntry>();
  const indexPath = join(o.dir, "model.safetensors.index.json");
  const files = existsSync(indexPath)
    ? [
        ...new Set(
          Object.values(
            (JSON.parse(readFileSync(indexPath, "utf8")) as { weight_map: Record<string, string> })
              .weight_map,
          ),
        ),
      ]
    : readdirSync(o.dir)
        .filter((f) => f.endsWith(".safetensors"))
        .sort();
  if (files.length === 0) throw new InputError("no .safetensors files", { file: o.dir });
  for (const f of files) {
    const p = join(o.dir, f);
    if (!existsSync(p)) throw new InputError(`shard ${f} named by the index is missing`, { file: indexPath });
    for (const [name, e] of readSafetensorsIndex(p)) entries.set(name, e);
  }

  const tokMeta = tokenizerMetadataToGguf(hfDirTokenizerToGgufMetadata(o.dir));
  const tokens = tokMeta.get("tokenizer.ggml.tokens");
  const nTokens = tokens?.type === 9 ? tokens.value.items.length : 0;
  const embd = entries.get("model.embed_tokens.weight");
  if (!embd) throw new InputError("missing tensor model.embed_tokens.weight", { file: o.dir });
  // like llama.cpp's Gemma converter, drop embedding rows beyond the tokenizer (padding rows)
  const nVocab = gemma && nTokens > 0 ? Math.min(nTokens, embd.shape[0]) : embd.shape[0];

  const dim = num("hidden_size");
  const heads = num("num_attention_heads");
  const base = configFor(arch, {
    dim,
    layers: num("num_hidden_layers"),
    heads,
    kvHeads: num("num_key_value_heads", heads),
    headDim: num("head_dim", dim / heads),
    ffn: num("intermediate_size"),
    vocab: nVocab,
    slidingWindow: arch === "gemma2" || arch === "gemma3" ? num("sliding_window", 4096) : 0,
    contextLength: num("max_position_embeddings", 2048),
    normEps: num("rms_norm_eps", 1e-6),
    ropeBase: num("rope_theta", 10000),
  });
  const cfg: ModelConfig = {
    ...base,
    ropeBaseSwa: arch === "gemma3" ? num("rope_local_base_freq", 10000) : base.ropeBaseSwa,
    attnSoftcap: arch === "gemma2" ? num("attn_logit_softcapping", 50) : 0,
    finalSoftcap:
      arch === "gemma2" || arch === "gemma3"
        ? typeof hp.final_logit_softcapping === "number"
          ? hp.final_logit_softcapping
          : 0
        : 0,
  };
  validateConfig(cfg, configPath);

  const type = o.type ?? "f16";
  const matrixType = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16 }[type];
  if (matrixType === undefined)
    throw new InputError(`type must be f32, f16 or bf16, got "${type}"`, { field: "type" });
  const byGguf = new Map<string, { hf: string; e: StEntry }>();
  for (const [hf, e] of entries) {
    const g = ggufNameOfHf(hf, arch);
    if (g) byGguf.set(g, { hf, e });
  }
  const tensors: GgufTensorToWrite[] = [];
  for (const spec of tensorSpecs(cfg)) {
    const src = byGguf.get(spec.name);
    if (!src) {
      if (spec.optional || spec.name === "output.weight") continue;
      throw new InputError(`missing tensor for ${spec.name}`, { file: o.dir });
    }
    if (spec.name === "output.weight" && gemma && arch !== "gemma3") continue; // gemma/gemma2 always tie
    const hfShape = [...src.e.shape].reverse();
    const want =
      spec.name === "token_embd.weight" || spec.name === "output.weight"
        ? [spec.shape[0], src.e.shape[0]]
        : spec.shape;
    if (hfShape.length !== want.length || hfShape.some((n, i) => n !== want[i]))
      throw new InputError(
        `tensor "${src.hf}" has shape [${src.e.shape}], expected [${[...spec.shape].reverse()}]`,
        { file: src.e.file },
      );
    const t = spec.kind === "vector" ? GgmlType.F32 : matrixType;
    tensors.push({
      name: spec.name,
      type: t,
      shape: spec.shape,
      data: () => {
        let x = readF32(src.e);
        if (x.length > spec.shape.reduce((a, b) => a * b, 1))
          x = x.slice(
            0,
            spec.shape.reduce((a, b) => a * b, 1),
          );
        if (arch === "llama" && /attn_q\.weight$/.test(spec.name))
          x = permuteQk(x, spec.shape[1], spec.shape[0], cfg.nHead);
        if (arch === "llama" && /attn_k\.weight$/.test(spec.name))
          x = permuteQk(x, spec.shape[1], spec.shape[0], cfg.nHeadKv);
        if (gemma && spec.name.endsWith("norm.weight")) for (let i = 0; i < x.length; i++) x[i] += 1;
        return castF32(x, t);
      },
    });
  }
  const fileType = { f32: 0, f16: 1, bf16: 32 }[type];
  const meta: Array<[string, GgufMetadataValue]> = [
    ...architectureMetadata(cfg, { name: String(hp._name_or_path ?? basename(o.dir)), fileType }),
    ...tokMeta,
  ];
  const { bytes } = await writeGguf(o.out, { metadata: meta, tensors });
  return { out: o.out, arch, tensors: tensors.length, bytes };
}
