// A loaded Gemma 3n vision tower (gemma3nv mmproj): weights in backend memory, the encoder + projector graph,
// and the mmproj writer with the clip.* metadata llama.cpp's clip.cpp reads for PROJECTOR_TYPE_GEMMA3NV.
import { basename, dirname, join } from "node:path";
import { Context } from "../../engine/context.js";
import { Graph } from "../../engine/graph.js";
import { Ops } from "../../engine/ops.js";
import { decodeThreads } from "../../engine/threads.js";
import type { Tensor } from "../../engine/tensor.js";
import { GgmlType, ggmlTypeName, isGgmlType, tensorBytes } from "../../gguf/ggml-types.js";
import { gguf, openGguf, writeGguf, type GgufFile, type GgufMetadataValue } from "../../gguf/index.js";
import { InputError } from "../../util/errors.js";
import { dequantize } from "../../engine/quant.js";
import { castF32 } from "../cast.js";
import type { LinearFn } from "../decoder.js";
import { buildGemma3nProjector } from "./gemma3n-projector.js";
import { buildMobileNetV5, type VisionTensors } from "./mobilenetv5.js";
import {
  GEMMA3NV,
  MSFA_OUTPUT_SIDE,
  MNV5_EPS,
  nImageTokens,
  readMobileNetV5Config,
  type MobileNetV5Config,
} from "./mobilenetv5-config.js";
import { randomMobileNetV5Mmproj, type VisionTensorBytes } from "./mobilenetv5-random.js";

/** The vision tower's tensors (every "v.*" and "mm.*" tensor of the file) in backend memory, types as stored. */
export class MobileNetV5Weights implements VisionTensors {
  private constructor(
    readonly ctx: Context,
    private readonly byName: Map<string, Tensor>,
    /** Shapes as in the file (trailing 1s included), kept for writing them back unchanged. */
    private readonly shapes: Map<string, number[]>,
  ) {}

  get(name: string): Tensor {
    const t = this.byName.get(name);
    if (!t) throw new InputError(`the vision model has no tensor "${name}"`);
    return t;
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  names(): string[] {
    return [...this.byName.keys()];
  }
  get bytes(): number {
    return this.ctx.allocatedBytes;
  }
  /** Every tensor's current bytes, type and shape as held (for saveMobileNetV5Mmproj after a merge). */
  snapshot(): Map<string, VisionTensorBytes> {
    return new Map(
      [...this.byName].map(([n, t]) => [n, { type: t.type, shape: this.shapes.get(n)!, data: t.bytes() }]),
    );
  }

  /** Loads from tensor bytes; ggml shapes as in the file (trailing 1s kept). */
  static fromData(tensors: Map<string, VisionTensorBytes>, file?: string): MobileNetV5Weights {
    const ctx = new Context({ maxTensors: tensors.size + 1 });
    const byName = new Map<string, Tensor>();
    try {
      const host = new Map<string, Uint8Array>();
      for (let [name, t] of tensors) {
        if (!isGgmlType(t.type) || t.data.byteLength !== tensorBytes(t.type, t.shape))
          throw new InputError(
            `tensor "${name}": ${t.data.byteLength} bytes do not hold ${isGgmlType(t.type) ? ggmlTypeName(t.type) : t.type} [${t.shape}]`,
            { file },
          );
        // norms, biases and layer scales are multiplied/added element-wise, which ggml's CPU backend does
        // for an f32 activation only with an f32 operand: hold them as f32 whatever the file stores
        const n = t.shape.reduce((a, b) => a * b, 1);
        const isVector = t.shape.filter((d) => d !== 1).length <= 1;
        if (isVector && t.type !== GgmlType.F32)
          t = {
            type: GgmlType.F32,
            shape: t.shape,
            data: new Uint8Array(dequantize(t.type, t.data, n).buffer),
          };
        // depthwise kernels [K, K, 1, C] go through ggml_conv_2d_dw, whose f16 im2col the CPU matmul only takes
        // with an f16/bf16 kernel (what convert_hf_to_gguf writes): an f32 one (--outtype f32) is rounded to f16
        else if (t.shape.length === 4 && t.shape[2] === 1 && t.shape[0] > 1 && t.type === GgmlType.F32)
          t = {
            type: GgmlType.F16,
            shape: t.shape,
            data: castF32(dequantize(t.type, t.data, n), GgmlType.F16),
          };
        // convert_hf_to_gguf's default ("auto") output of a bf16 checkpoint stores conv kernels in bf16, which
        // ggml's CPU conv_2d_direct does not take: widen them to f32 (exact)
        else if (t.shape.length === 4 && t.shape[2] !== 1 && t.type === GgmlType.BF16)
          t = {
            type: GgmlType.F32,
            shape: t.shape,
            data: new Uint8Array(dequantize(t.type, t.data, n).buffer),
          };
        host.set(name, t.data);
        byName.set(name, ctx.tensor(t.type, t.shape.length ? t.shape : [1], name));
      }
      ctx.allocate(undefined, "weights");
      for (const [name, t] of byName) t.set(host.get(name)!);
    } catch (e) {
      ctx.free();
      throw e;
    }
    return new MobileNetV5Weights(ctx, byName, new Map([...tensors].map(([n, t]) => [n, [...t.shape]])));
  }

  static fromGguf(file: GgufFile, names: string[]): MobileNetV5Weights {
    const data = new Map<string, VisionTensorBytes>();
    for (const name of names) {
      const info = file.tensor(name)!;
      data.set(name, { type: info.type, shape: [...info.shape], data: file.tensorData(name) });
    }
    return MobileNetV5Weights.fromData(data, file.path);
  }

  free(): void {
    this.ctx.free();
  }
}

/** Options of {@link MobileNetV5Model.encode}. */
export interface EncodeOptions {
  /** LoRA hook for mm.input_projection (default: plain matmul). */
  linear?: LinearFn;
  /** Return the encoder's features [nEmbd, 256] per image instead of projected soft tokens. */
  featuresOnly?: boolean;
  /** Threads for this call (default: 1 for tiny towers — see engine/threads.ts — else the backend's). */
  threads?: number;
}

/** A gemma3nv mmproj loaded for inference. */
export class MobileNetV5Model {
  private constructor(
    readonly config: MobileNetV5Config,
    readonly weights: MobileNetV5Weights,
  ) {}

  static load(path: string): MobileNetV5Model {
    const file = openGguf(path);
    try {
      const config = readMobileNetV5Config(file);
      const names = file.tensors.map((t) => t.name).filter((n) => n.startsWith("v.") || n.startsWith("mm."));
      return new MobileNetV5Model(config, MobileNetV5Weights.fromGguf(file, names));
    } finally {
      file.close();
    }
  }

  static fromTensors(config: MobileNetV5Config, tensors: Map<string, VisionTensorBytes>): MobileNetV5Model {
    return new MobileNetV5Model(config, MobileNetV5Weights.fromData(tensors));
  }

  /** Soft tokens per image. */
  get nTokens(): number {
    return MSFA_OUTPUT_SIDE * MSFA_OUTPUT_SIDE;
  }

  /**
   * Encodes B preprocessed images (planar [S, S, 3] each, concatenated; see preprocessImage) into soft tokens,
   * [B·256·projectionDim] (token-major: token t of image b at (b·256 + t)·projectionDim).
   */
  encode(pixels: Float32Array, o: EncodeOptions = {}): Float32Array {
    const S = this.config.imageSize;
    const per = S * S * 3;
    if (pixels.length === 0 || pixels.length % per !== 0)
      throw new InputError(`pixels: ${pixels.length} values are not whole ${S}×${S}×3 images`);
    const B = pixels.length / per;
    const ctx = new Context({
      maxTensors: visionNodesEstimate(this.config) * 2,
      graphSize: visionNodesEstimate(this.config),
    });
    try {
      const ops = new Ops(ctx);
      const inp = ctx.input(GgmlType.F32, [S, S, 3, B], "inp_raw");
      const feats = buildMobileNetV5(ops, this.config, this.weights, { pixels: inp });
      const out = o.featuresOnly
        ? ops.reshape(ops.cont(ops.permute(feats, [1, 2, 0, 3])), [
            feats.ne[2],
            feats.ne[0] * feats.ne[1] * B,
          ])
        : buildGemma3nProjector(ops, this.config, this.weights, feats, o.linear);
      const g = Graph.build(ctx, [out]);
      g.allocate();
      inp.set(pixels);
      g.compute(undefined, o.threads ?? decodeThreads(this.weights.bytes));
      const r = out.f32();
      g.free();
      return r;
    } finally {
      ctx.free();
    }
  }

  dispose(): void {
    this.weights.free();
  }
}

/** Graph nodes the encoder + projector need (generous: ~40 per block plus the fixed parts). */
export function visionNodesEstimate(c: MobileNetV5Config): number {
  return 256 + 64 * c.stages.flat().length;
}

/** The clip.* metadata clip.cpp reads for a gemma3nv vision tower (values it ignores are still required). */
export function mobileNetV5Metadata(c: MobileNetV5Config, name: string): [string, GgufMetadataValue][] {
  return [
    ["general.architecture", gguf.str("clip")],
    ["general.name", gguf.str(name)],
    ["general.file_type", gguf.u32(1)],
    ["clip.has_vision_encoder", gguf.bool(true)],
    ["clip.projector_type", gguf.str(GEMMA3NV)],
    ["clip.vision.projection_dim", gguf.u32(c.projectionDim)],
    ["clip.vision.image_size", gguf.u32(c.imageSize)],
    ["clip.vision.patch_size", gguf.u32(c.patchSize)],
    ["clip.vision.embedding_length", gguf.u32(c.nEmbd)],
    // convert_hf_to_gguf writes intermediate_size·4, 128 fake layers and 8 heads; the graph uses none of them
    ["clip.vision.feed_forward_length", gguf.u32(c.nEmbd * 4)],
    ["clip.vision.block_count", gguf.u32(128)],
    ["clip.vision.attention.head_count", gguf.u32(8)],
    ["clip.vision.attention.layer_norm_epsilon", gguf.f32(MNV5_EPS)],
    ["clip.vision.image_mean", gguf.arr("f32", c.imageMean)],
    ["clip.vision.image_std", gguf.arr("f32", c.imageStd)],
  ];
}

/** Writes a gemma3nv mmproj (atomically) that llama.cpp's mtmd loads. */
export async function saveMobileNetV5Mmproj(
  path: string,
  c: MobileNetV5Config,
  tensors: Map<string, VisionTensorBytes>,
  o: { name?: string } = {},
): Promise<{ bytes: number }> {
  if (nImageTokens(c) !== MSFA_OUTPUT_SIDE * MSFA_OUTPUT_SIDE)
    throw new InputError(`image_size/patch_size must be ${MSFA_OUTPUT_SIDE * MSFA_OUTPUT_SIDE}`);
  const r = await writeGguf(path, {
    metadata: mobileNetV5Metadata(c, o.name ?? "tunekit gemma3n vision"),
    tensors: [...tensors].map(([name, t]) => ({ name, type: t.type, shape: t.shape, data: t.data })),
  });
  return { bytes: r.bytes };
}

/** What {@link writeRandomGemma3nMmproj} wrote (the shape new-model reports for any vision tower). */
export interface RandomGemma3nMmproj {
  out: string;
  imageSize: number;
  patchSize: number;
  /** MobileNet-V5 blocks over all stages. */
  layers: number;
  imageTokens: number;
  bytes: number;
}

/**
 * Writes a tiny random gemma3nv tower as mmproj-<model file name> beside `modelOut` (for `new-model --arch gemma3n
 * --vision`): projection and vision width = the text model's width, so llama.cpp's mtmd accepts the pair.
 */
export async function writeRandomGemma3nMmproj(
  modelOut: string,
  o: { projectionDim: number; seed: number; imageSize?: number },
): Promise<RandomGemma3nMmproj> {
  const { config, tensors } = randomMobileNetV5Mmproj({ ...o, nEmbd: o.projectionDim });
  const out = join(dirname(modelOut), `mmproj-${basename(modelOut)}`);
  const { bytes } = await saveMobileNetV5Mmproj(out, config, tensors, {
    name: "tunekit random gemma3n vision",
  });
  return {
    out,
    imageSize: config.imageSize,
    patchSize: config.patchSize,
    layers: config.stages.flat().length,
    imageTokens: nImageTokens(config),
    bytes,
  };
}
