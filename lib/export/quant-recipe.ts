// Which ggml type each tensor gets for a llama.cpp file type ("Q4_K_M" …): the default type of the file
// type, llama.cpp's per-tensor mixes (src/llama-quant.cpp llama_tensor_get_type_impl: attn_v / ffn_down /
// attn_output get more bits in some layers, output.weight Q6_K, tied token_embd like the output), which
// tensors may be quantized at all (tensor_allows_quantization: 2-D+, names ending in "weight", no norms),
// and the fallback for rows that are not a whole number of blocks (tensor_type_fallback). Only the
// dense-model branches matter for the architectures tunekit runs (no experts, no Falcon).
import { GgmlType, blockSize, isQuantized } from "../gguf/ggml-types.js";
import { fallbackType } from "../engine/quant.js";
import { InputError } from "../util/errors.js";

/** The file types tunekit writes, with llama.cpp's LLAMA_FTYPE value (general.file_type) and default type. */
export const QUANT_TYPES = {
  F32: { ftype: 0, base: GgmlType.F32 },
  F16: { ftype: 1, base: GgmlType.F16 },
  BF16: { ftype: 32, base: GgmlType.BF16 },
  Q8_0: { ftype: 7, base: GgmlType.Q8_0 },
  Q6_K: { ftype: 18, base: GgmlType.Q6_K },
  Q5_K_M: { ftype: 17, base: GgmlType.Q5_K },
  Q5_K_S: { ftype: 16, base: GgmlType.Q5_K },
  Q5_0: { ftype: 8, base: GgmlType.Q5_0 },
  Q4_K_M: { ftype: 15, base: GgmlType.Q4_K },
  Q4_K_S: { ftype: 14, base: GgmlType.Q4_K },
  Q4_0: { ftype: 2, base: GgmlType.Q4_0 },
  Q3_K_L: { ftype: 13, base: GgmlType.Q3_K },
  Q3_K_M: { ftype: 12, base: GgmlType.Q3_K },
  Q3_K_S: { ftype: 11, base: GgmlType.Q3_K },
  Q2_K: { ftype: 10, base: GgmlType.Q2_K },
} as const;

/** A file type name accepted by {@link planQuantization} ("Q4_K_M", "F16", …). */
export type QuantTypeName = keyof typeof QUANT_TYPES;

/** The file type named `name` (case-insensitive); an InputError listing the known names otherwise. */
export function quantTypeFromName(name: string): QuantTypeName {
  const key = String(name).trim().toUpperCase();
  if (Object.hasOwn(QUANT_TYPES, key)) return key as QuantTypeName;
  throw new InputError(
    `unknown quantization type "${name}" (known: ${Object.keys(QUANT_TYPES).join(", ")})`,
    { field: "type" },
  );
}

/** One tensor of the input model. */
export interface RecipeTensor {
  /** GGUF tensor name. */
  name: string;
  /** ggml ne order (shape[0] is the row length). */
  shape: readonly number[];
  /** Current ggml type. */
  type: number;
}

/** The model facts the mixes look at. */
export interface RecipeModel {
  /** general.architecture. */
  arch: string;
  /** Number of blocks (llama.cpp's n_layer: the ffn_down / gate / up counters run over it). */
  nLayer: number;
  /** Attention heads and KV heads (n_gqa = nHead / nHeadKv). */
  nHead: number;
  nHeadKv: number;
}

/** What happens to one tensor. */
export interface PlannedTensor extends RecipeTensor {
  /** Type written. */
  target: number;
  /** True when llama.cpp's rule allowed quantizing this tensor at all. */
  quantizable: boolean;
  /** True when the row length forced a fallback type. */
  fellBack: boolean;
}

/** Options of {@link planQuantization}. */
export interface PlanOptions {
  /** An importance matrix will be used (changes ffn_down of Q4_0 / Q5_0). */
  hasImatrix?: boolean;
}

/** llama.cpp's tensor order (llama_model_loader weights_map): non-block tensors by name, then blocks by number and name. */
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const layer = (n: string) => {
    const m = /^blk\.(\d+)\./.exec(n);
    return m ? Number(m[1]) : -1;
  };
  return [...tensors].sort((a, b) => {
    const la = layer(a.name);
    const lb = layer(b.name);
    if (la !== lb) return la - lb;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** ggml_n_dims: dimensions up to the last one larger than 1 (at least 1). */
function nDims(shape: readonly number[]): number {
  for (let i = shape.length - 1; i >= 1; i--) if (shape[i] > 1) return i + 1;
  return 1;
}

/** tensor_allows_quantization, for the tensor names of the architectures tunekit runs. */
export function allowsQuantization(t: RecipeTensor): boolean {
  if (nDims(t.shape) < 2) return false;
  const n = t.name;
  if (!n.endsWith("weight")) return false;
  const excluded = [
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "attn_rel_b.weight",
    ".position_embd",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
  ];
  if (excluded.some((s) => n.includes(s))) return false;
  return n !== "position_embd.weight" && n !== "token_types.weight";
}

type Category =
  | "token_embd"
  | "output"
  | "attn_v"
  | "attn_k"
  | "attn_q"
  | "attn_output"
  | "ffn_up"
  | "ffn_gate"
  | "ffn_down"
  | "other";

function category(name: string): Category {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight") return "token_embd";
  if (name.includes("attn_qkv.weight") || name.includes("attn_kv_b.weight") || name.includes("attn_v.weight"))
    return "attn_v";
  if (name.includes("attn_k.weight")) return "attn_k";
  if (name.includes("attn_q.weight")) return "attn_q";
  if (name.includes("attn_output.weight")) return "attn_output";
  if (name.includes("ffn_up")) return "ffn_up";
  if (name.includes("ffn_gate")) return "ffn_gate";
  if (name.includes("ffn_down")) return "ffn_down";
  return "other";
}

/** llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
export function useMoreBits(i: number, n: number): boolean {
  const e = Math.trunc(n / 8);
  return i < e || i >= Math.trunc((7 * n) / 8) || (i - e) % 3 === 2;
}

/**
 * The type of every tensor for file type `type`, in llama.cpp's tensor order (the order the output file
 * has). Mirrors llama_tensor_get_type for dense models with default parameters (quantized output tensor,
 * no overrides, not "pure").
 */
export function planQuantization(
  tensors: readonly RecipeTensor[],
  model: RecipeModel,
  type: QuantTypeName,
  options: PlanOptions = {},
): PlannedTensor[] {
  const { base } = QUANT_TYPES[type];
  const ordered = llamaTensorOrder(tensors);
  const tied = !ordered.some((t) => t.name === "output.weight");
  const nWv = ordered.filter((t) => category(t.name) === "attn_v").length;
  const nLayer = model.nLayer;
  const gqa = model.nHead / model.nHeadKv;
  // llama.cpp's LLM_TYPE_70B (Llama 2 70B): 80 layers with grouped-query attention
  const is70b = model.arch === "llama" && nLayer === 80 && model.nHead !== model.nHeadKv;
  let iWv = 0;
  let iDown = 0;
  const is = (...names: QuantTypeName[]) => names.includes(type);

  return ordered.map((t) => {
    if (!allowsQuantization(t)) return { ...t, target: t.type, quantizable: false, fellBack: false };
    let next: number = base;
    if (isQuantized(base)) {
      const cat = category(t.name);
      if (cat === "output" || (tied && cat === "token_embd")) {
        if (t.shape[0] % blockSize(next) !== 0) next = GgmlType.Q8_0;
        else if (next !== GgmlType.Q8_0) next = GgmlType.Q6_K;
      } else if (cat === "attn_v") {
        if (is("Q2_K")) next = gqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
        else if (is("Q3_K_M")) next = iWv < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
        else if (is("Q3_K_L")) next = GgmlType.Q5_K;
        else if (is("Q4_K_M", "Q5_K_M") && useMoreBits(iWv, nWv)) next = GgmlType.Q6_K;
        else if (is("Q4_K_S") && iWv < 4) next = GgmlType.Q5_K;
        if (is70b && (next === GgmlType.Q3_K || next === GgmlType.Q4_K)) next = GgmlType.Q5_K;
        iWv++;
      } else if (cat === "ffn_down") {
        const i = iDown;
        if (is("Q2_K")) next = GgmlType.Q3_K;
        else if (is("Q3_K_M")) next = i < Math.trunc(nLayer / 16) ? GgmlType.Q5_K : GgmlType.Q4_K;
        else if (is("Q3_K_L")) next = GgmlType.Q5_K;
        else if (is("Q4_K_M")) {
          if (useMoreBits(i, nLayer)) next = GgmlType.Q6_K;
        } else if (is("Q5_K_M") && useMoreBits(i, nLayer)) next = GgmlType.Q6_K;
        else if (is("Q4_K_S") && i < Math.trunc(nLayer / 8)) next = GgmlType.Q5_K;
        else if (is("Q4_0", "Q5_0") && options.hasImatrix && i < Math.trunc(nLayer / 8))
          next = is("Q4_0") ? GgmlType.Q4_1 : GgmlType.Q5_1;
        iDown++;
      } else if (cat === "attn_output") {
        if (is("Q2_K")) next = GgmlType.Q3_K;
        else if (is("Q3_K_M")) next = GgmlType.Q4_K;
        else if (is("Q3_K_L")) next = GgmlType.Q5_K;
      }
    }
    const chosen = next;
    const target = isQuantized(chosen) ? fallbackType(chosen, t.shape[0]) : chosen;
    return { ...t, target, quantizable: true, fellBack: target !== chosen };
  });
}
