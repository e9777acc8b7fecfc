// Gemma 3n's multimodal embedder (Hugging Face Gemma3nMultimodalEmbedder; the end of llama.cpp's
// mobilenetv5.cpp): the encoder's 16×16 feature map becomes 256 soft tokens per image —
// tokens in row-major order, × √(vision width), RMS norm × soft_emb_norm, linear projection into the text
// width, then an RMS norm without weight. Every op here has a ggml backward, so a LoRA on
// mm.input_projection (or training soft_emb_norm) works with the encoder frozen.
import type { Ops } from "../../engine/ops.js";
import type { Tensor } from "../../engine/tensor.js";
import { EngineError } from "../../util/errors.js";
import type { LinearFn } from "../decoder.js";
import { MNV5, MNV5_EPS, type MobileNetV5Config } from "./mobilenetv5-config.js";
import type { VisionTensors } from "./mobilenetv5.js";

/** LoRA-hook name of the projector's linear layer. */
export const GEMMA3N_PROJECTOR_LINEAR = "mm.input_projection";

/**
 * Soft tokens F32 [projectionDim, W·H·B] from encoder features [W, H, nEmbd, B] (image b's tokens are columns
 * b·W·H …). `linear` is the LoRA hook (default: plain matmul); its weight is ggml [nEmbd, projectionDim].
 */
export function buildGemma3nProjector(
  ops: Ops,
  c: MobileNetV5Config,
  w: VisionTensors,
  features: Tensor,
  linear: LinearFn = (o, _n, wt, x) => o.mulMat(wt, x),
): Tensor {
  const [W, H, C, B] = features.ne;
  if (C !== c.nEmbd)
    throw new EngineError(`gemma3n projector: features ${features} have ${C} channels, not ${c.nEmbd}`);
  const proj = w.get(MNV5.inputProjection);
  if (proj.ne[0] !== C || proj.ne[1] !== c.projectionDim)
    throw new EngineError(
      `gemma3n projector: ${MNV5.inputProjection} ${proj} must be [${C}, ${c.projectionDim}]`,
    );
  // [W, H, C, B] → [C, W, H, B] (channels first, x fastest) → [C, W·H·B]; the no-op reshape first gives the
  // features a contiguous gradient when the encoder trains (ggml's PERMUTE backward returns a permuted view)
  const f = ops.reshape(features, [...features.ne]);
  let cur = ops.reshape(ops.cont(ops.permute(f, [1, 2, 0, 3])), [C, W * H * B]);
  cur = ops.scale(cur, Math.sqrt(C));
  cur = ops.rmsNorm(cur, MNV5_EPS);
  if (w.has(MNV5.softEmbNorm)) cur = ops.mul(cur, w.get(MNV5.softEmbNorm));
  cur = linear(ops, GEMMA3N_PROJECTOR_LINEAR, proj, cur);
  return ops.rmsNorm(cur, MNV5_EPS);
}
