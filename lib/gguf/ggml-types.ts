// The ggml tensor types of the pinned ggml release (ggml/include/ggml.h `enum ggml_type`) with their
// block sizes (elements per block) and type sizes (bytes per block) from ggml/src/ggml.c `type_traits`
// (the same numbers as gguf-py's GGML_QUANT_SIZES). Values 4, 5 and 31–33, 36–38 were removed from ggml
// and are deliberately absent: a file that uses them cannot be loaded by this llama.cpp either.
import { TunekitError } from "../util/errors.js";

/** ggml tensor type ids, exactly as stored in GGUF tensor infos. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;

/** One of the ggml type ids above. */
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];
/** The upper-case name of a ggml type ("Q4_K"). */
export type GgmlTypeName = keyof typeof GgmlType;

/** GGML_TYPE_COUNT of this release: ids at or above it are unknown. */
export const GGML_TYPE_COUNT = 43;

const QK_K = 256;

/** [elements per block, bytes per block], from ggml.c type_traits / ggml-common.h block structs. */
const TRAITS: Record<GgmlType, readonly [number, number]> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.Q4_0]: [32, 2 + 16],
  [GgmlType.Q4_1]: [32, 2 + 2 + 16],
  [GgmlType.Q5_0]: [32, 2 + 4 + 16],
  [GgmlType.Q5_1]: [32, 2 + 2 + 4 + 16],
  [GgmlType.Q8_0]: [32, 2 + 32],
  [GgmlType.Q8_1]: [32, 2 + 2 + 32],
  [GgmlType.Q2_K]: [QK_K, 2 + 2 + QK_K / 16 + QK_K / 4],
  [GgmlType.Q3_K]: [QK_K, 2 + QK_K / 4 + QK_K / 8 + 12],
  [GgmlType.Q4_K]: [QK_K, 2 + 2 + QK_K / 2 + 12],
  [GgmlType.Q5_K]: [QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12],
  [GgmlType.Q6_K]: [QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16],
  [GgmlType.Q8_K]: [QK_K, 4 + QK_K + QK_K / 8],
  [GgmlType.IQ2_XXS]: [QK_K, 2 + QK_K / 4],
  [GgmlType.IQ2_XS]: [QK_K, 2 + QK_K / 4 + QK_K / 32],
  [GgmlType.IQ3_XXS]: [QK_K, 2 + QK_K / 4 + QK_K / 8],
  [GgmlType.IQ1_S]: [QK_K, 2 + QK_K / 8 + QK_K / 16],
  [GgmlType.IQ4_NL]: [32, 2 + 16],
  [GgmlType.IQ3_S]: [QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4],
  [GgmlType.IQ2_S]: [QK_K, 2 + QK_K / 4 + QK_K / 16],
  [GgmlType.IQ4_XS]: [QK_K, 2 + 2 + QK_K / 2 + QK_K / 64],
  [GgmlType.I8]: [1, 1],
  [GgmlType.I16]: [1, 2],
  [GgmlType.I32]: [1, 4],
  [GgmlType.I64]: [1, 8],
  [GgmlType.F64]: [1, 8],
  [GgmlType.IQ1_M]: [QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32],
  [GgmlType.BF16]: [1, 2],
  [GgmlType.TQ1_0]: [QK_K, 2 + 4 * 13],
  [GgmlType.TQ2_0]: [QK_K, 2 + 64],
  [GgmlType.MXFP4]: [32, 1 + 16],
  [GgmlType.NVFP4]: [64, 4 + 32],
  [GgmlType.Q1_0]: [128, 2 + 16],
  [GgmlType.Q2_0]: [64, 2 + 16],
};

const NAMES = new Map<number, GgmlTypeName>(
  Object.entries(GgmlType).map(([name, id]) => [id, name as GgmlTypeName]),
);

/** True when `t` is a type id this release defines (removed ids and ids ≥ GGML_TYPE_COUNT are not). */
export function isGgmlType(t: number): t is GgmlType {
  return NAMES.has(t);
}

function traits(t: number): readonly [number, number] {
  if (!isGgmlType(t)) throw new TunekitError(`unknown ggml tensor type ${t}`);
  return TRAITS[t];
}

/** The upper-case name of a type ("Q4_K", "BF16"); throws for an unknown id. */
export function ggmlTypeName(t: number): GgmlTypeName {
  const name = NAMES.get(t);
  if (name === undefined) throw new TunekitError(`unknown ggml tensor type ${t}`);
  return name;
}

/** The type named `name`, case-insensitive ("q4_k", "Q4_K", "bf16"); throws listing the known names. */
export function ggmlTypeFromName(name: string): GgmlType {
  const key = name.trim().toUpperCase();
  if (Object.hasOwn(GgmlType, key)) return GgmlType[key as GgmlTypeName];
  throw new TunekitError(`unknown ggml tensor type "${name}" (known: ${[...NAMES.values()].join(", ")})`);
}

/** Elements per block (1 for plain types, 32 for Q8_0, 256 for K-quants). */
export function blockSize(t: number): number {
  return traits(t)[0];
}

/** Bytes per block. */
export function typeSize(t: number): number {
  return traits(t)[1];
}

/** True for block-quantized types (block size > 1). */
export function isQuantized(t: number): boolean {
  return traits(t)[0] > 1;
}

/** Bytes of one row of `ne0` elements; throws when ne0 is not a multiple of the block size. */
export function rowBytes(t: number, ne0: number): number {
  const [blck, size] = traits(t);
  if (!Number.isSafeInteger(ne0) || ne0 < 0) throw new TunekitError(`invalid row length ${ne0}`);
  if (ne0 % blck !== 0) {
    throw new TunekitError(`a ${ggmlTypeName(t)} row must hold a multiple of ${blck} elements, got ${ne0}`);
  }
  return (ne0 / blck) * size;
}

/**
 * Bytes of a contiguous tensor of shape `shape` (ggml ne order: shape[0] is the row length).
 * Throws for a bad row length or when the size is not an exact safe integer.
 */
export function tensorBytes(t: number, shape: readonly number[]): number {
  let n = BigInt(rowBytes(t, shape.length ? shape[0] : 1));
  for (let i = 1; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isSafeInteger(d) || d < 0)
      throw new TunekitError(`invalid dimension ${d} in shape [${shape}]`);
    n *= BigInt(d);
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new TunekitError(`tensor of shape [${shape}] is too large`);
  return Number(n);
}
