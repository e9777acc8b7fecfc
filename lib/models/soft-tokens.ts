// Soft tokens: embeddings that take the place of token embeddings at chosen columns of the decoder input
// (image embeddings from a vision projector), shared by decoder.ts and arch/gemma3n.ts.
import type { Ops } from "../engine/ops.js";
import type { Tensor } from "../engine/tensor.js";
import type { Context } from "../engine/context.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { InputError } from "../util/errors.js";

/**
 * Soft tokens (image embeddings from a vision projector) placed at chosen token columns, as llama.cpp's
 * gemma3/gemma3n graphs take raw embeddings from mtmd: they replace the token embedding of that column
 * and are NOT multiplied by the architecture's embedding scale (√n_embd for Gemma). Built from ops that
 * have a backward pass, so gradients reach the embeddings (and the vision encoder that made them).
 */
export interface SoftTokenInputs {
  /** F32 [nEmbd, nSlots]: one embedding per soft-token slot. */
  embeddings: Tensor;
  /** I32 [T·B]: the embedding row each column takes (any valid row on text columns, where it is masked out). */
  rows: Tensor;
  /** F32 [1, T·B]: 1 on soft-token columns, 0 on text columns. */
  isSoft: Tensor;
  /** F32 [1, T·B]: 1 − isSoft. */
  isText: Tensor;
}

/** The input embeddings with soft tokens swapped in: x·isText + embeddings[rows]·isSoft. */
export function withSoftTokens(ops: Ops, x: Tensor, s: SoftTokenInputs | undefined): Tensor {
  if (!s) return x;
  return ops.add(ops.mul(x, s.isText), ops.mul(ops.getRows(s.embeddings, s.rows), s.isSoft));
}

/** One image's soft tokens in a token sequence. */
export interface SoftTokenSpan {
  /** First token column (in the flattened T·B columns) the image occupies. */
  column: number;
  /** Number of consecutive columns (soft tokens). */
  count: number;
  /** Row of the first of its embeddings in the embeddings tensor (the rest follow). */
  firstRow: number;
}

/** Host values for {@link SoftTokenInputs} and the attention groups of the images. */
export interface SoftTokenLayout {
  rows: Int32Array;
  isSoft: Float32Array;
  isText: Float32Array;
  /** Per column: 0 for text, k+1 for the k-th image (bidirectional attention groups, see attentionMask). */
  groups: Int32Array;
}

/** Lays out soft-token spans over `n` columns, checking that they stay in range and do not overlap. */
export function softTokenLayout(n: number, spans: readonly SoftTokenSpan[], nSlots: number): SoftTokenLayout {
  const out: SoftTokenLayout = {
    rows: new Int32Array(n),
    isSoft: new Float32Array(n),
    isText: new Float32Array(n).fill(1),
    groups: new Int32Array(n),
  };
  spans.forEach((s, k) => {
    if (s.column < 0 || s.column + s.count > n || s.firstRow < 0 || s.firstRow + s.count > nSlots)
      throw new RangeError(`soft tokens ${s.column}+${s.count} (rows ${s.firstRow}…) out of range`);
    for (let i = 0; i < s.count; i++) {
      const col = s.column + i;
      if (out.groups[col] !== 0) throw new RangeError(`soft-token spans overlap at column ${col}`);
      out.rows[col] = s.firstRow + i;
      out.isSoft[col] = 1;
      out.isText[col] = 0;
      out.groups[col] = k + 1;
    }
  });
  return out;
}

/** Soft tokens as host values, for one forward pass (Model.logits, Session.eval). */
export interface SoftTokenValues {
  /** The embeddings, nEmbd floats per slot, slot after slot. */
  embeddings: Float32Array;
  /** Where each image's slots go in the token sequence. */
  spans: SoftTokenSpan[];
  /** Soft tokens of one image attend to each other both ways (Gemma 3); false keeps attention causal (Gemma 3n). */
  bidirectional: boolean;
}

/**
 * Input tensors for {@link SoftTokenValues} over `n` columns in `ctx` (before allocation); `fill()` writes
 * them after allocation; `groups` are the attention groups (undefined when attention stays causal).
 */
export function softTokenInputs(
  ctx: Context,
  nEmbd: number,
  n: number,
  soft: SoftTokenValues,
): { inputs: SoftTokenInputs; groups?: Int32Array; fill(): void } {
  const nSlots = soft.embeddings.length / nEmbd;
  if (!Number.isInteger(nSlots) || nSlots < 1)
    throw new InputError(
      `soft-token embeddings hold ${soft.embeddings.length} floats, not a multiple of n_embd ${nEmbd}`,
    );
  const layout = softTokenLayout(n, soft.spans, nSlots);
  const inputs: SoftTokenInputs = {
    embeddings: ctx.input(GgmlType.F32, [nEmbd, nSlots], "soft tokens"),
    rows: ctx.input(GgmlType.I32, [n], "soft token rows"),
    isSoft: ctx.input(GgmlType.F32, [1, n], "soft token columns"),
    isText: ctx.input(GgmlType.F32, [1, n], "text columns"),
  };
  return {
    inputs,
    groups: soft.bidirectional ? layout.groups : undefined,
    fill() {
      inputs.embeddings.set(soft.embeddings);
      inputs.rows.set(layout.rows);
      inputs.isSoft.set(layout.isSoft);
      inputs.isText.set(layout.isText);
    },
  };
}
