// A GGUF model → the same model quantized to a llama.cpp file type, tensor by tensor as llama.cpp's
// llama-quantize does (src/llama-quant.cpp): types from quant-recipe.ts, tensors in llama.cpp's order,
// every metadata entry copied, general.file_type = LLAMA_FTYPE and general.quantization_version = 2, and
// the imatrix keys llama-quantize records when an importance matrix is used.
import { statSync } from "node:fs";
import { basename } from "node:path";
import { gguf, openGguf, writeGguf, type GgufMetadataValue, type GgufTensorToWrite } from "../gguf/index.js";
import { GgmlType, ggmlTypeName, isQuantized } from "../gguf/ggml-types.js";
import { dequantize, quantize } from "../engine/quant.js";
import { readModelConfig } from "../models/config.js";
import { InputError } from "../util/errors.js";
import { loadImatrix, type Imatrix } from "./imatrix.js";
import {
  planQuantization,
  QUANT_TYPES,
  quantTypeFromName,
  type PlannedTensor,
  type QuantTypeName,
} from "./quant-recipe.js";

/** GGML_QNT_VERSION of the pinned ggml. */
export const QUANTIZATION_VERSION = 2;

/** Options of {@link quantizeModel}. */
export interface QuantizeOptions {
  /** Input GGUF model (f32, f16 or bf16 weights). */
  in: string;
  /** Output GGUF path (written atomically). */
  out: string;
  /** llama.cpp file type: F16, BF16, Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q5_0, Q4_K_M, Q4_K_S, Q4_0, Q3_K_L, Q3_K_M, Q3_K_S, Q2_K (or F32). */
  type: QuantTypeName | string;
  /** Importance matrix file (llama.cpp imatrix GGUF or legacy .dat) weighting the quantization error. */
  imatrix?: string;
  /** Allow quantizing tensors that are already quantized (llama-quantize --allow-requantize). Default false. */
  allowRequantize?: boolean;
}

/** What was written. */
export interface QuantizeResult {
  out: string;
  type: QuantTypeName;
  /** general.file_type written. */
  fileType: number;
  /** Input and output file sizes, bytes. */
  inBytes: number;
  outBytes: number;
  /** Bits per weight of the output (all tensor data × 8 / elements). */
  bitsPerWeight: number;
  /** Tensors whose row length forced a fallback type. */
  fallbacks: number;
  /** Tensors that got importance-matrix weighting. */
  imatrixTensors: number;
  /** Per-tensor types written, in file order. */
  tensors: Array<{ name: string; from: string; to: string }>;
}

/** Quantizes a model; see {@link QuantizeOptions}. Nothing is written when anything is wrong. */
export async function quantizeModel(o: QuantizeOptions): Promise<QuantizeResult> {
  const type = quantTypeFromName(o.type);
  const f = openGguf(o.in);
  try {
    const where = { file: o.in };
    const generalType = f.getString("general.type", "model");
    if (generalType !== "model")
      throw new InputError(
        `this is a ${generalType} file (general.type = ${generalType}), not a model: merge an adapter into its base model first (tunekit merge), then quantize`,
        where,
      );
    const config = readModelConfig(f);
    const imatrix: Imatrix | undefined = o.imatrix ? loadImatrix(o.imatrix) : undefined;
    const plan = planQuantization(
      f.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type })),
      config,
      type,
      { hasImatrix: !!imatrix },
    );
    for (const p of plan) {
      if (p.target !== p.type && isQuantized(p.type) && isQuantized(p.target) && !o.allowRequantize)
        throw new InputError(
          `tensor ${p.name} is already ${ggmlTypeName(p.type)}; requantizing loses quality — quantize from the f32/f16/bf16 model, or allow requantizing`,
          where,
        );
      if (p.target !== p.type && !canDequantize(p.type))
        throw new InputError(
          `tensor ${p.name} has type ${ggmlTypeName(p.type)}, which cannot be converted`,
          where,
        );
      const im = imatrix?.data.get(p.name);
      if (
        im &&
        p.target !== p.type &&
        isQuantized(p.target) &&
        im.length !== p.shape[0] &&
        p.name !== "token_embd.weight"
      )
        throw new InputError(
          `importance matrix entry ${p.name} has ${im.length} values, the tensor's rows have ${p.shape[0]}`,
          { file: o.imatrix },
        );
    }

    const { fileType, metadata } = outputMetadata(f.metadata, type, imatrix, o.imatrix);
    let imatrixTensors = 0;
    const tensors: GgufTensorToWrite[] = plan.map((p) => {
      const im = imatrix?.data.get(p.name);
      const weighted = !!im && im.length === p.shape[0] && isQuantized(p.target) && p.target !== p.type;
      if (weighted) imatrixTensors++;
      return {
        name: p.name,
        type: p.target,
        shape: p.shape,
        data: () => convert(f.tensorData(p.name), p, weighted ? im : undefined),
      };
    });
    let elements = 0;
    let dataBytes = 0;
    const { bytes } = await writeGguf(o.out, { metadata, tensors, alignment: f.alignment });
    const out = openGguf(o.out);
    try {
      for (const t of out.tensors) {
        elements += t.shape.reduce((a, b) => a * b, 1);
        dataBytes += t.nbytes;
      }
    } finally {
      out.close();
    }
    return {
      out: o.out,
      type,
      fileType,
      inBytes: statSync(o.in).size,
      outBytes: bytes,
      bitsPerWeight: (dataBytes * 8) / elements,
      fallbacks: plan.filter((p) => p.fellBack).length,
      imatrixTensors,
      tensors: plan.map((p) => ({ name: p.name, from: ggmlTypeName(p.type), to: ggmlTypeName(p.target) })),
    };
  } finally {
    f.close();
  }
}

function canDequantize(type: number): boolean {
  return type === GgmlType.F32 || type === GgmlType.F16 || type === GgmlType.BF16 || isQuantized(type);
}

/** One tensor's bytes in its target type (a copy when the type stays). */
function convert(bytes: Uint8Array, p: PlannedTensor, imatrix: Float32Array | undefined): Uint8Array {
  if (p.target === p.type) return bytes;
  const n = p.shape.reduce((a, b) => a * b, 1);
  const values = dequantize(p.type, bytes, n);
  return quantize(p.target, values, p.shape[0], imatrix);
}

/** The input's metadata with llama-quantize's changes. */
function outputMetadata(
  input: Map<string, GgufMetadataValue>,
  type: QuantTypeName,
  imatrix: Imatrix | undefined,
  imatrixPath: string | undefined,
): { fileType: number; metadata: Map<string, GgufMetadataValue> } {
  const metadata = new Map(input);
  for (const k of ["split.no", "split.count", "split.tensors.count"]) metadata.delete(k);
  const fileType = QUANT_TYPES[type].ftype;
  metadata.set("general.quantization_version", gguf.u32(QUANTIZATION_VERSION));
  metadata.set("general.file_type", gguf.u32(fileType));
  if (imatrix && imatrixPath) {
    metadata.set("quantize.imatrix.file", gguf.str(basename(imatrixPath).slice(0, 127)));
    if (imatrix.datasets.length)
      metadata.set("quantize.imatrix.dataset", gguf.str(imatrix.datasets[0].slice(0, 127)));
    metadata.set("quantize.imatrix.entries_count", gguf.u32(imatrix.data.size));
    if (imatrix.chunkCount > 0) metadata.set("quantize.imatrix.chunks_count", gguf.u32(imatrix.chunkCount));
  }
  return { fileType, metadata };
}
