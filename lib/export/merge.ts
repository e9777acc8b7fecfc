// Merging a LoRA adapter into its base model: W' = W + s·B·A for every adapted matrix (as MLX-LM's fuse
// and llama.cpp's export-lora do) — for DoRA W' = m ⊙ (W + s·B·A)/‖W + s·B·A‖ per output row (PEFT's merge;
// exact, and the only way to run a DoRA adapter in llama.cpp, whose adapter files cannot hold m) — written as a GGUF that keeps every metadata entry of the base
// (architecture keys, tokenizer, chat template) and every other tensor as it was. A quantized base is
// dequantized first and its matrices written in the merge type: the result is never 4-bit (quantize it
// afterwards with quantizeModel if wanted).
import { statSync } from "node:fs";
import { gguf, openGguf, writeGguf, type GgufMetadataValue, type GgufTensorToWrite } from "../gguf/index.js";
import { GgmlType, ggmlTypeName, isQuantized } from "../gguf/ggml-types.js";
import { dequantize } from "../engine/quant.js";
import { castF32 } from "../models/cast.js";
import { readModelConfig } from "../models/config.js";
import { LoraAdapter } from "../lora/adapter.js";
import { InputError } from "../util/errors.js";
import {
  adapterWeightsOf,
  readAdapterGguf,
  readPeft,
  type AdapterLayer,
  type AdapterWeights,
} from "./adapter-source.js";

/** Float types a merged model can be written in. */
export type MergeType = "f32" | "f16" | "bf16";

const MERGE_TYPES: Record<MergeType, { ggml: number; ftype: number }> = {
  f32: { ggml: GgmlType.F32, ftype: 0 },
  f16: { ggml: GgmlType.F16, ftype: 1 },
  bf16: { ggml: GgmlType.BF16, ftype: 32 },
};

/** Options of {@link mergeAdapter}. */
export interface MergeOptions {
  /** Base model GGUF (f32, f16, bf16 or quantized). */
  model: string;
  /** The adapter: llama.cpp LoRA GGUF path, PEFT folder path, or a LoraAdapter on this base. */
  adapter: string | LoraAdapter;
  /** Output GGUF path (written atomically). */
  out: string;
  /** Type of the merged matrices (and of dequantized ones). Default f16. */
  type?: MergeType;
  /** Multiplier of the adapter's own scale (llama.cpp --lora-scaled). Default 1. */
  scale?: number;
}

/** What was written. */
export interface MergeResult {
  out: string;
  /** Matrices that received an update. */
  merged: number;
  /** Quantized matrices written dequantized. */
  dequantized: number;
  /** Tensors copied unchanged. */
  copied: number;
  /** The scale s used (adapter scale × options.scale). */
  scale: number;
  bytes: number;
}

/** Merges an adapter into a base model; see {@link MergeOptions}. Nothing is written when anything is wrong. */
export async function mergeAdapter(o: MergeOptions): Promise<MergeResult> {
  const typeName = o.type ?? "f16";
  const type = MERGE_TYPES[typeName];
  if (!type)
    throw new InputError(`merge type must be f32, f16 or bf16, got "${String(typeName)}"`, { field: "type" });
  const f = openGguf(o.model);
  try {
    const where = { file: o.model };
    const kind = f.getString("general.type", "model");
    if (kind !== "model")
      throw new InputError(
        `this is a ${kind} file, not a base model (pass the base model as --model)`,
        where,
      );
    const config = readModelConfig(f);
    const adapter = loadAdapter(o.adapter, config);
    if (adapter.arch && adapter.arch !== config.arch)
      throw new InputError(`the adapter is for ${adapter.arch}, the model is ${config.arch}`, {
        file: adapter.source,
      });
    for (const [name, l] of adapter.layers) {
      const w = f.tensor(`${name}.weight`);
      if (!w)
        throw new InputError(
          `the adapter changes ${name}, which the model does not have: is it for another model?`,
          {
            file: adapter.source,
          },
        );
      if (w.shape.length !== 2 || w.shape[0] !== l.inDim || w.shape[1] !== l.outDim)
        throw new InputError(
          `${name}: the adapter maps ${l.inDim}→${l.outDim}, the model's weight is [${w.shape}]: is it for another model?`,
          { file: adapter.source },
        );
    }
    const scale = adapter.scale * (o.scale ?? 1);
    if (!Number.isFinite(scale))
      throw new InputError(`adapter scale ${scale} is not finite`, { field: "scale" });

    let merged = 0;
    let dequantized = 0;
    let copied = 0;
    const tensors: GgufTensorToWrite[] = f.tensors.map((t) => {
      const layer = t.name.endsWith(".weight")
        ? adapter.layers.get(t.name.slice(0, -".weight".length))
        : undefined;
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (layer) {
        merged++;
        return {
          name: t.name,
          type: type.ggml,
          shape: t.shape,
          data: () =>
            castF32(
              applyMagnitude(addLowRank(dequantize(t.type, f.tensorData(t.name), n), layer, scale), layer),
              type.ggml,
            ),
        };
      }
      if (isQuantized(t.type)) {
        dequantized++;
        return {
          name: t.name,
          type: type.ggml,
          shape: t.shape,
          data: () => castF32(dequantize(t.type, f.tensorData(t.name), n), type.ggml),
        };
      }
      copied++;
      return { name: t.name, type: t.type, shape: t.shape, data: () => f.tensorData(t.name) };
    });

    const metadata = new Map<string, GgufMetadataValue>(f.metadata);
    metadata.set("general.file_type", gguf.u32(fileTypeOf(tensors)));
    if (!tensors.some((t) => isQuantized(t.type))) metadata.delete("general.quantization_version");
    const { bytes } = await writeGguf(o.out, { metadata, tensors, alignment: f.alignment });
    return { out: o.out, merged, dequantized, copied, scale, bytes };
  } finally {
    f.close();
  }
}

function loadAdapter(a: string | LoraAdapter, config: ReturnType<typeof readModelConfig>): AdapterWeights {
  if (a instanceof LoraAdapter) return adapterWeightsOf(a);
  let isDir: boolean;
  try {
    isDir = statSync(a).isDirectory();
  } catch {
    throw new InputError("adapter not found", { file: a });
  }
  return isDir ? readPeft(a, config) : readAdapterGguf(a);
}

/** W (out rows of in) += s · B·A, in place; returns W. */
export function addLowRank(w: Float32Array, l: AdapterLayer, s: number): Float32Array {
  const { a, b, inDim, outDim, r } = l;
  const row = new Float64Array(inDim);
  for (let o = 0; o < outDim; o++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const c = b[o * r + k];
      if (c === 0) continue;
      const off = k * inDim;
      for (let i = 0; i < inDim; i++) row[i] += c * a[off + i];
    }
    const base = o * inDim;
    for (let i = 0; i < inDim; i++) w[base + i] += s * row[i];
  }
  return w;
}

/** DoRA: scales each row o of W (out rows of in) to length m[o]; returns W (unchanged without a magnitude). */
export function applyMagnitude(w: Float32Array, l: AdapterLayer): Float32Array {
  const m = l.magnitude;
  if (!m) return w;
  const { inDim, outDim } = l;
  for (let o = 0; o < outDim; o++) {
    const base = o * inDim;
    let n2 = 0;
    for (let i = 0; i < inDim; i++) n2 += w[base + i] * w[base + i];
    const k = m[o] / Math.sqrt(n2);
    for (let i = 0; i < inDim; i++) w[base + i] *= k;
  }
  return w;
}

/** llama.cpp's LLAMA_FTYPE for the type most 2-D tensors have (0 all f32, 1 mostly f16, 32 mostly bf16). */
function fileTypeOf(tensors: GgufTensorToWrite[]): number {
  const counts = new Map<number, number>();
  for (const t of tensors)
    if (t.shape.length >= 2 && t.shape[1] > 1) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  const top = [...counts].sort((x, y) => y[1] - x[1])[0]?.[0] ?? GgmlType.F32;
  const byType: Record<number, number> = { [GgmlType.F32]: 0, [GgmlType.F16]: 1, [GgmlType.BF16]: 32 };
  const ftype = byType[top];
  if (ftype === undefined)
    throw new InputError(`cannot name the file type of a merged model of ${ggmlTypeName(top)} matrices`);
  return ftype;
}
