// Gemma 3n's vision tower for the multimodal paths (training, generation, evaluation): the shape
// lib/multimodal/encoder.ts's ImageEncoder asks for, plus what can be trained.
//
// What is trainable: ggml has no backward for CONV_2D (conv_2d_direct), PAD, UPSCALE, CONCAT or the fused
// GELU, and IM2COL's backward reaches only the data, so the MobileNet-V5 encoder cannot be differentiated:
// its blocks (v.*) stay frozen and a LoRA on them is refused. The projector (mm.input_projection, RMS norms)
// is built from ops that all have a backward, so a LoRA on mm.input_projection works with the encoder's
// output as a constant — and LoRA on the language model is unaffected.
import { InputError } from "../../util/errors.js";
import type { LinearFn } from "../decoder.js";
import { preprocessImage } from "./preprocess.js";
import { GEMMA3N_PROJECTOR_LINEAR } from "./gemma3n-projector.js";
import { MSFA_OUTPUT_SIDE } from "./mobilenetv5-config.js";
import { MobileNetV5Model } from "./mobilenetv5-model.js";

/** mtmd's strings around a Gemma 3n image (mtmd.cpp: PROJECTOR_TYPE_GEMMA3NV shares Gemma 3's). */
export const GEMMA3N_IMAGE_BEGIN = "<start_of_image>";
export const GEMMA3N_IMAGE_END = "<end_of_image>";

/** Linear layers of the Gemma 3n vision tower a LoRA can target (the projector only; see above). */
export const GEMMA3N_VISION_LORA_TARGETS: readonly string[] = [GEMMA3N_PROJECTOR_LINEAR];

/**
 * Checks vision LoRA targets for a Gemma 3n (MobileNet-V5) tower before training starts. Targets are GGUF
 * names or prefixes ("mm.input_projection", "v.blk.2.1.attn.query.proj", "v.*", "vision"); anything in the
 * encoder is refused with an InputError that says why and what works instead.
 */
export function checkGemma3nVisionTargets(targets: readonly string[], field = "target"): string[] {
  const out: string[] = [];
  for (const t of targets) {
    const name = t.replace(/\.weight$/, "");
    if (name === GEMMA3N_PROJECTOR_LINEAR || name === "mm" || name === "mm.*" || name === "projector")
      out.push(GEMMA3N_PROJECTOR_LINEAR);
    else if (name === "vision" || name === "v" || name.startsWith("v.") || name === "all")
      throw new InputError(
        `LoRA target "${t}": Gemma 3n's MobileNet-V5 vision encoder cannot be trained on ggml (no backward for ` +
          `CONV_2D, PAD, UPSCALE, CONCAT or GELU). Train the language model, and optionally the vision projector ` +
          `("${GEMMA3N_PROJECTOR_LINEAR}"), instead`,
        { field },
      );
    else throw new InputError(`LoRA target "${t}" is not a Gemma 3n vision layer`, { field });
  }
  return [...new Set(out)];
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
  /** Soft tokens of B preprocessed images; `linear` may add a LoRA to mm.input_projection only. */
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
