// Gemma 3n's vision tower for the multimodal paths (training, generation, evaluation): the shape
// lib/multimodal/encoder.ts's ImageEncoder asks for, plus what can be trained.
//
// What is trainable: llama.cpp's graph (mobilenetv5.ts) uses CONV_2D, PAD, UPSCALE, CONCAT and the fused GELU,
// which ggml cannot differentiate; training uses the same computation built from differentiable ops
// (mobilenetv5-trainable.ts), so LoRA fits every 1×1 conv of the encoder and the projector, and full
// fine-tuning reaches every tensor (see mobilenetv5-train.ts).
import { InputError } from "../../util/errors.js";
import type { LinearFn } from "../decoder.js";
import { preprocessImage } from "./preprocess.js";
import { GEMMA3N_PROJECTOR_LINEAR } from "./gemma3n-projector.js";
import { MSFA_OUTPUT_SIDE, type MobileNetV5Config } from "./mobilenetv5-config.js";
import { mobileNetV5LinearNames } from "./mobilenetv5-trainable.js";
import { MobileNetV5Model } from "./mobilenetv5-model.js";

/** mtmd's strings around a Gemma 3n image (mtmd.cpp: PROJECTOR_TYPE_GEMMA3NV shares Gemma 3's). */
export const GEMMA3N_IMAGE_BEGIN = "<start_of_image>";
export const GEMMA3N_IMAGE_END = "<end_of_image>";

/**
 * Linear layers of a Gemma 3n vision tower a LoRA can target: the encoder's 1×1 convs (trained through the
 * differentiable graph of mobilenetv5-trainable.ts) and the projector.
 */
export function gemma3nVisionLinearNames(c: MobileNetV5Config): string[] {
  return [...mobileNetV5LinearNames(c), GEMMA3N_PROJECTOR_LINEAR];
}

/**
 * Resolves vision LoRA targets for a Gemma 3n (MobileNet-V5) tower: "vision" (every 1×1 conv and the projector),
 * "projector"/"mm.input_projection", or layer names from gemma3nVisionLinearNames ("v.blk.2.1.attn.query.proj",
 * "v.blk.1.0.pw_exp.conv", "v.msfa.ffn.pw_proj.conv"; a trailing ".weight" is accepted). Anything else — e.g. a
 * depthwise or 3×3 kernel, which has no matrix to factor — is refused with an InputError naming the layers.
 */
export function checkGemma3nVisionTargets(
  targets: readonly string[],
  c: MobileNetV5Config,
  field = "target",
): string[] {
  const names = gemma3nVisionLinearNames(c);
  const out = new Set<string>();
  for (const t of targets) {
    const name = t.replace(/\.weight$/, "");
    if (name === "vision") names.forEach((n) => out.add(n));
    else if (name === "projector" || name === "mm" || name === GEMMA3N_PROJECTOR_LINEAR)
      out.add(GEMMA3N_PROJECTOR_LINEAR);
    else if (names.includes(name)) out.add(name);
    else
      throw new InputError(
        `LoRA target "${t}" is not a linear layer of this Gemma 3n vision tower (LoRA fits its 1×1 convs and the ` +
          `projector, e.g. "${names[0]}", "${GEMMA3N_PROJECTOR_LINEAR}", or "vision" for all ${names.length})`,
        { field },
      );
  }
  return names.filter((n) => out.has(n));
}

/** Options of {@link openGemma3nImageEncoder}. */
export interface Gemma3nEncoderOptions {
  /** Threads for encoding (default: 1 for tiny towers, else the backend's). */
  threads?: number;
}

/** A gemma3nv mmproj as the multimodal paths use it (structurally lib/multimodal's ImageEncoder). */
export interface Gemma3nImageEncoder {
  readonly image: { begin: string; end: string; tokensPerImage: number; slotId: number };
  readonly nEmbd: number;
  readonly pixelsPerImage: number;
  /** Gemma 3n image tokens attend causally (mtmd_decode_use_non_causal is false for gemma3nv). */
  readonly bidirectional: false;
  /** The loaded tower (config, weights). */
  readonly model: MobileNetV5Model;
  pixels(input: string | Uint8Array): Promise<Float32Array>;
  /** Soft tokens of B preprocessed images (llama.cpp's graph); `linear` may add a LoRA to mm.input_projection. */
  encode(pixels: Float32Array, linear?: LinearFn): Float32Array;
  dispose(): void;
}

/** Loads a gemma3nv mmproj for the multimodal paths. */
export function openGemma3nImageEncoder(path: string, o: Gemma3nEncoderOptions = {}): Gemma3nImageEncoder {
  const model = MobileNetV5Model.load(path);
  const c = model.config;
  return {
    // the Gemma 3n text model reads per-layer embedding row 0 at image positions (llama.cpp gemma3n.cpp)
    image: {
      begin: GEMMA3N_IMAGE_BEGIN,
      end: GEMMA3N_IMAGE_END,
      tokensPerImage: MSFA_OUTPUT_SIDE ** 2,
      slotId: 0,
    },
    nEmbd: c.projectionDim,
    pixelsPerImage: 3 * c.imageSize * c.imageSize,
    bidirectional: false,
    model,
    pixels: (input) => preprocessImage(input, c),
    encode: (pixels, linear) => model.encode(pixels, { linear, threads: o.threads }),
    dispose: () => model.dispose(),
  };
}
