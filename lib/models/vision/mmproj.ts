// mmproj GGUF files for Gemma 3's vision tower: load (VisionModel), save (saveMmproj, with the metadata and
// tensor names llama.cpp's clip loader reads) and tiny random ones for tests (randomMmproj).
import { GgmlType } from "../../gguf/ggml-types.js";
import { openGguf, writeGguf, type GgufFile } from "../../gguf/index.js";
import { Context } from "../../engine/context.js";
import { Graph } from "../../engine/graph.js";
import { Ops } from "../../engine/ops.js";
import { dequantize, quantize } from "../../engine/quant.js";
import { InputError } from "../../util/errors.js";
import { castF32 } from "../cast.js";
import type { LinearFn } from "../decoder.js";
import { normalGenerator } from "../new-model.js";
import {
  readSiglipConfig,
  siglipMetadata,
  siglipTensorSpecs,
  validateSiglipConfig,
  type SiglipVisionConfig,
} from "./siglip-config.js";
import { buildSiglipVision, visionNodesEstimate } from "./siglip.js";
import { VisionWeights, type VisionLoadOptions, type VisionTensorData } from "./vision-weights.js";

/** A loaded gemma3 mmproj: config and weights in backend memory. */
export class VisionModel {
  private constructor(
    readonly path: string,
    readonly config: SiglipVisionConfig,
    readonly weights: VisionWeights,
    /** The mapped file (metadata kept for export); closed by dispose(). */
    readonly file: GgufFile,
  ) {}

  static load(path: string, o: VisionLoadOptions = {}): VisionModel {
    const file = openGguf(path);
    try {
      const config = readSiglipConfig(file);
      return new VisionModel(path, config, VisionWeights.fromGguf(file, config, o), file);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * Soft tokens of B preprocessed images (preprocessImage outputs, concatenated): f32
   * [B][nImageTokens][projectionDim] flattened. One inference graph, built and freed here.
   */
  encode(pixels: Float32Array, o: { linear?: LinearFn; threads?: number } = {}): Float32Array {
    return encodeImages(this.config, this.weights, pixels, o);
  }

  dispose(): void {
    this.weights.free();
    this.file.close();
  }
}

/** encode() for any weights (e.g. while training): an inference graph over B images. */
export function encodeImages(
  c: SiglipVisionConfig,
  w: VisionWeights,
  pixels: Float32Array,
  o: { linear?: LinearFn; threads?: number } = {},
): Float32Array {
  const per = 3 * c.imageSize * c.imageSize;
  if (pixels.length === 0 || pixels.length % per !== 0)
    throw new InputError(
      `pixels hold ${pixels.length} values, not a whole number of ${c.imageSize}×${c.imageSize}×3 images`,
    );
  const B = pixels.length / per;
  const nodes = visionNodesEstimate(c);
  const ctx = new Context({ maxTensors: nodes + 16, graphSize: nodes + 16 });
  try {
    const ops = new Ops(ctx);
    const input = ctx.input(GgmlType.F32, [c.imageSize, c.imageSize, 3, B], "pixels");
    const out = buildSiglipVision(ops, c, w, { pixels: input, linear: o.linear, inference: true });
    const graph = Graph.build(ctx, [out]);
    graph.allocate();
    input.set(pixels);
    graph.compute(undefined, o.threads);
    const result = out.f32();
    graph.free();
    return result;
  } finally {
    ctx.free();
  }
}

export interface SaveMmprojOptions {
  /** general.name. */
  name?: string;
  /**
   * Storage type of the large matrices (attention, MLP): "f32" (default), "f16", or "q8_0" (rows that are not
   * whole blocks of 32 fall back to f16). mm.input_projection is never quantized (clip transposes it, which
   * needs f32/f16; llama.cpp's converter forces f16). Patch and position embeddings, norms and biases stay
   * f32, as the converter keeps them.
   */
  type?: "f32" | "f16" | "q8_0";
}

/**
 * Writes an mmproj GGUF (atomically) that llama.cpp's clip loader reads: general.architecture "clip",
 * the clip.* keys and every tensor of siglipTensorSpecs(c). `tensors`: weights (e.g. after training) or raw
 * tensor bytes by name.
 */
export async function saveMmproj(
  path: string,
  c: SiglipVisionConfig,
  tensors: VisionWeights | Map<string, VisionTensorData>,
  o: SaveMmprojOptions = {},
): Promise<{ bytes: number }> {
  validateSiglipConfig(c, path);
  const data = tensors instanceof VisionWeights ? tensors.snapshot() : tensors;
  const want = o.type ?? "f32";
  if (want !== "f32" && want !== "f16" && want !== "q8_0")
    throw new InputError(`type must be f32, f16 or q8_0, got "${String(want)}"`, { field: "type" });
  const list = siglipTensorSpecs(c).map((s) => {
    const d = data.get(s.name);
    if (!d) throw new InputError(`missing tensor "${s.name}"`, { file: path });
    const n = s.shape.reduce((a, b) => a * b, 1);
    let type: number = GgmlType.F32;
    if (s.kind === "matrix" && want !== "f32") type = GgmlType.F16;
    if (
      want === "q8_0" &&
      s.kind === "matrix" &&
      s.name !== "mm.input_projection.weight" &&
      s.shape[0] % 32 === 0
    )
      type = GgmlType.Q8_0;
    const convert = () => {
      if (d.type === type) return d.data;
      const f32 = dequantize(d.type, d.data, n);
      return type === GgmlType.Q8_0 ? quantize(type, f32, s.shape[0]) : castF32(f32, type);
    };
    return { name: s.name, type, shape: s.shape, data: convert };
  });
  const meta = siglipMetadata(c, { name: o.name, fileType: { f32: 0, f16: 1, q8_0: 7 }[want] });
  const { bytes } = await writeGguf(path, { metadata: meta, tensors: list });
  return { bytes };
}

/** Options of a tiny random Gemma 3 vision tower (defaults are small enough for tests). */
export interface RandomMmprojOptions {
  /** Embedding width of the text model the soft tokens feed (projection_dim). */
  textEmbd: number;
  /** Image side in pixels (default 64). */
  imageSize?: number;
  /** Patch side (default 8; Gemma 3 uses 14). */
  patchSize?: number;
  /** Vision width (default 48). */
  nEmbd?: number;
  /** MLP width (default 96; must differ from nEmbd). */
  nFf?: number;
  /** Blocks (default 2). */
  nLayer?: number;
  /** Heads (default 4). */
  nHead?: number;
  /** Pooling window side (default 2: 8×8 patches → 4×4 = 16 soft tokens). */
  mergeFactor?: number;
  /** Seed of the random weights. */
  seed: number;
}

/**
 * A random gemma3 vision tower: matrices N(0, 1/fan_in), patch kernel N(0, 1/(3p²)), positions N(0, 0.02²)…,
 * norm weights 1 ± 0.1, biases N(0, 0.1²). Deterministic in (seed, tensor name).
 */
export function randomMmproj(o: RandomMmprojOptions): {
  config: SiglipVisionConfig;
  tensors: Map<string, VisionTensorData>;
} {
  const config: SiglipVisionConfig = {
    projector: "gemma3",
    imageSize: o.imageSize ?? 64,
    patchSize: o.patchSize ?? 8,
    nEmbd: o.nEmbd ?? 48,
    nFf: o.nFf ?? 96,
    nLayer: o.nLayer ?? 2,
    nHead: o.nHead ?? 4,
    eps: 1e-6,
    projectionDim: o.textEmbd,
    mergeFactor: o.mergeFactor ?? 2,
    imageMean: [0.5, 0.5, 0.5],
    imageStd: [0.5, 0.5, 0.5],
  };
  validateSiglipConfig(config);
  const tensors = new Map<string, VisionTensorData>();
  for (const s of siglipTensorSpecs(config)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const rnd = normalGenerator(o.seed, s.name);
    let mean = 0;
    let std: number;
    if (s.name === "v.patch_embd.weight") std = 1 / Math.sqrt(3 * config.patchSize ** 2);
    else if (s.name === "v.position_embd.weight") std = 0.5;
    else if (s.kind === "vector") {
      mean = /(ln\d|post_ln|norm)\.weight$/.test(s.name) ? 1 : 0;
      std = 0.1;
    } else std = 1 / Math.sqrt(s.shape[0]);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = mean + std * rnd();
    tensors.set(s.name, { type: GgmlType.F32, data: new Uint8Array(v.buffer) });
  }
  return { config, tensors };
}
