// What the multimodal paths (training, generation, evaluation) need from a vision encoder + projector,
// whatever its architecture (Gemma 3's SigLIP, Gemma 3n's MobileNet-V5): preprocessing, the soft tokens
// of preprocessed images, and how those tokens sit in the text (mtmd's begin/end strings, attention).
import type { LinearFn } from "../models/decoder.js";
import type { ImageTokenSpec } from "./tokenize.js";

export interface ImageEncoder {
  /** How one image appears in the token sequence (begin/end text, soft tokens per image). */
  readonly image: ImageTokenSpec;
  /** Width of a soft token (must equal the language model's n_embd). */
  readonly nEmbd: number;
  /** Floats of one preprocessed image. */
  readonly pixelsPerImage: number;
  /** The soft tokens of one image attend to each other both ways (Gemma 3); false: causal (Gemma 3n). */
  readonly bidirectional: boolean;
  /** Reads an image file (or bytes) and preprocesses it as llama.cpp does for this encoder. */
  pixels(input: string | Uint8Array): Promise<Float32Array>;
  /** Soft tokens of B preprocessed images (concatenated): nEmbd floats per token, image after image. */
  encode(pixels: Float32Array, linear?: LinearFn): Float32Array;
  dispose(): void;
}
