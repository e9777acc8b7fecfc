// Quantization kernels of ggml from TypeScript: f32 → any GGUF type (ggml_quantize_chunk) and back
// (the type's to_float from ggml_get_type_traits). Everything ggml would assert on is checked here first.
import { EngineError } from "../util/errors.js";
import { GgmlType, blockSize, ggmlTypeName, isGgmlType, rowBytes } from "../gguf/ggml-types.js";
import { callPointer, ggml, peek, type Ptr } from "./ffi.js";

/**
 * Byte offsets inside struct ggml_type_traits (ggml.h): type_name, blck_size, blck_size_interleave,
 * type_size, is_quantized, to_float, from_float_ref. Checked against the C header by layout.test.ts.
 */
export const TYPE_TRAITS_LAYOUT = {
  type_name: 0,
  blck_size: 8,
  blck_size_interleave: 16,
  type_size: 24,
  is_quantized: 32,
  to_float: 40,
  from_float_ref: 48,
  size: 56,
} as const;

/** Types ggml_quantize_chunk has a case for (anything else ends in an assertion there). */
export const QUANTIZE_TYPES: ReadonlySet<number> = new Set<number>([
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q4_0,
  GgmlType.Q4_1,
  GgmlType.Q5_0,
  GgmlType.Q5_1,
  GgmlType.Q8_0,
  GgmlType.Q2_K,
  GgmlType.Q3_K,
  GgmlType.Q4_K,
  GgmlType.Q5_K,
  GgmlType.Q6_K,
  GgmlType.IQ2_XXS,
  GgmlType.IQ2_XS,
  GgmlType.IQ3_XXS,
  GgmlType.IQ1_S,
  GgmlType.IQ4_NL,
  GgmlType.IQ3_S,
  GgmlType.IQ2_S,
  GgmlType.IQ4_XS,
  GgmlType.IQ1_M,
  GgmlType.TQ1_0,
  GgmlType.TQ2_0,
  GgmlType.MXFP4,
  GgmlType.NVFP4,
  GgmlType.Q1_0,
  GgmlType.Q2_0,
]);

// llama.cpp's quantizer (src/llama-quant.cpp tensor_requires_imatrix) refuses these without an importance
// matrix; ggml itself asserts for the ones ggml_quantize_requires_imatrix names.
const LLAMA_REQUIRES_IMATRIX = new Set<number>([
  GgmlType.IQ3_XXS,
  GgmlType.IQ2_XXS,
  GgmlType.IQ2_XS,
  GgmlType.IQ2_S,
  GgmlType.IQ1_M,
  GgmlType.IQ1_S,
]);

/** True when quantizing to `type` needs an importance matrix (ggml asserts, or llama.cpp refuses, without one). */
export function requiresImatrix(type: number): boolean {
  return ggml().ggml_quantize_requires_imatrix(type) || LLAMA_REQUIRES_IMATRIX.has(type);
}

function checkType(type: number, what: string): void {
  if (!isGgmlType(type)) throw new EngineError(`${what}: unknown ggml type ${type}`);
}

/**
 * Quantizes `src` (rows of `rowLength` f32 values) to `type` with ggml's reference quantizers. `imatrix`
 * (one non-negative weight per column, as llama.cpp's imatrix files hold) is required by the IQ types
 * listed in {@link requiresImatrix} and used by the others that support it.
 */
export function quantize(
  type: number,
  src: Float32Array,
  rowLength: number,
  imatrix?: Float32Array,
): Uint8Array {
  checkType(type, "quantize");
  const name = ggmlTypeName(type);
  if (!QUANTIZE_TYPES.has(type)) throw new EngineError(`quantize: ggml cannot quantize to ${name}`);
  if (!Number.isSafeInteger(rowLength) || rowLength < 1)
    throw new EngineError(`quantize: row length ${rowLength} must be a positive integer`);
  const blck = blockSize(type);
  if (rowLength % blck !== 0)
    throw new EngineError(
      `quantize: a ${name} row holds whole blocks of ${blck} values; row length ${rowLength} is not ` +
        `(fallbackType(${name}, ${rowLength}) gives the type llama.cpp would use)`,
    );
  if (src.length === 0 || src.length % rowLength !== 0)
    throw new EngineError(`quantize: ${src.length} values are not whole rows of ${rowLength}`);
  const quantized = blck > 1;
  if (quantized) assertFinite(src, "quantize: value");
  if (imatrix) {
    if (imatrix.length !== rowLength)
      throw new EngineError(
        `quantize: the importance matrix has ${imatrix.length} entries, rows have ${rowLength}`,
      );
    for (let i = 0; i < imatrix.length; i++)
      if (!(imatrix[i] >= 0 && imatrix[i] < Infinity))
        throw new EngineError(
          `quantize: importance matrix entry ${i} is ${imatrix[i]} (must be finite and ≥ 0)`,
        );
  } else if (requiresImatrix(type)) {
    throw new EngineError(
      `quantize: ${name} needs an importance matrix (llama.cpp's imatrix) — none was given`,
    );
  }
  const nrows = src.length / rowLength;
  const rowSize = ggml().ggml_row_size(type, rowLength);
  if (rowSize !== rowBytes(type, rowLength))
    throw new EngineError(`quantize: ggml's ${name} row size ${rowSize} differs from tunekit's type table`);
  const out = new Uint8Array(rowSize * nrows);
  const written = ggml().ggml_quantize_chunk(
    type,
    src,
    out,
    0,
    nrows,
    rowLength,
    quantized ? (imatrix ?? null) : null,
  );
  if (written !== out.byteLength)
    throw new EngineError(`quantize: ggml wrote ${written} of ${out.byteLength} bytes`);
  return out;
}

function assertFinite(a: Float32Array, what: string): void {
  for (let i = 0; i < a.length; i++)
    if (!Number.isFinite(a[i]))
      throw new EngineError(`${what} ${i} is ${a[i]}; only finite values can be quantized`);
}

const toFloatCache = new Map<number, Ptr | null>();

/** The type's to_float function pointer (null for F32 and the integer types). */
function toFloat(type: number): Ptr | null {
  let fn = toFloatCache.get(type);
  if (fn === undefined) {
    const traits = ggml().ggml_get_type_traits(type);
    fn = peek<Ptr | null>(traits, TYPE_TRAITS_LAYOUT.to_float, "void*");
    toFloatCache.set(type, fn);
  }
  return fn;
}

/** Converts `nElements` values stored as `type` in `data` back to f32 (ggml's to_float). */
export function dequantize(type: number, data: Uint8Array, nElements: number): Float32Array {
  checkType(type, "dequantize");
  const name = ggmlTypeName(type);
  if (!Number.isSafeInteger(nElements) || nElements < 0)
    throw new EngineError(`dequantize: element count ${nElements} must be a non-negative integer`);
  if (nElements % blockSize(type) !== 0)
    throw new EngineError(
      `dequantize: ${nElements} values are not whole ${name} blocks of ${blockSize(type)}`,
    );
  const bytes = rowBytes(type, nElements);
  if (data.byteLength !== bytes)
    throw new EngineError(
      `dequantize: ${nElements} ${name} values take ${bytes} bytes, got ${data.byteLength}`,
    );
  if (type === GgmlType.F32) {
    const copy = new Float32Array(nElements);
    new Uint8Array(copy.buffer).set(data);
    return copy;
  }
  const fn = toFloat(type);
  if (!fn) throw new EngineError(`dequantize: ggml has no conversion from ${name} to f32`);
  const out = new Float32Array(nElements);
  if (nElements > 0)
    callPointer<void>(fn, "void tk_to_float(const void* x, _Out_ float* y, int64_t k)", data, out, nElements);
  return out;
}

/**
 * The type llama.cpp's quantizer writes instead of `type` when a row of `rowLength` values is not a whole
 * number of its blocks (src/llama-quant.cpp tensor_type_fallback): 256-block IQ types → IQ4_NL; Q2_K, Q3_K,
 * TQ1_0, TQ2_0, Q2_0 → Q4_0; Q4_K → Q5_0; Q5_K → Q5_1; Q6_K → Q8_0; 32-block types stay; and F16 when even
 * the fallback does not fit. Returns `type` itself when the row fits.
 */
export function fallbackType(type: number, rowLength: number): GgmlType {
  checkType(type, "fallbackType");
  if (!Number.isSafeInteger(rowLength) || rowLength < 1)
    throw new EngineError(`fallbackType: row length ${rowLength} must be a positive integer`);
  const blck = blockSize(type);
  if (rowLength % blck === 0) return type as GgmlType;
  let fallback: GgmlType;
  switch (type) {
    case GgmlType.IQ1_S:
    case GgmlType.IQ1_M:
    case GgmlType.IQ2_XXS:
    case GgmlType.IQ2_XS:
    case GgmlType.IQ2_S:
    case GgmlType.IQ3_XXS:
    case GgmlType.IQ3_S:
    case GgmlType.IQ4_XS:
      fallback = GgmlType.IQ4_NL;
      break;
    case GgmlType.Q2_0:
    case GgmlType.Q2_K:
    case GgmlType.Q3_K:
    case GgmlType.TQ1_0:
    case GgmlType.TQ2_0:
      fallback = GgmlType.Q4_0;
      break;
    case GgmlType.Q4_K:
      fallback = GgmlType.Q5_0;
      break;
    case GgmlType.Q5_K:
      fallback = GgmlType.Q5_1;
      break;
    case GgmlType.Q6_K:
      fallback = GgmlType.Q8_0;
      break;
    default:
      if (blck > 32)
        throw new EngineError(`fallbackType: llama.cpp defines no fallback for ${ggmlTypeName(type)}`);
      fallback = type as GgmlType;
  }
  return rowLength % blockSize(fallback) === 0 ? fallback : GgmlType.F16;
}
