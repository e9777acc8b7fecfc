// Gemma 3n's vision encoder (MobileNet-V5) as llama.cpp's mtmd loads it from an mmproj GGUF
// (tools/mtmd/clip.cpp, PROJECTOR_TYPE_GEMMA3NV): the blocks are discovered from tensor names stage by stage,
// exactly as clip.cpp does, and each block's kind follows from which tensors it has.
import { InputError } from "../../util/errors.js";
import type { GgufFile } from "../../gguf/index.js";

/** The projector type string llama.cpp uses for Gemma 3n vision. */
export const GEMMA3NV = "gemma3nv";

/** Stem, blocks, fusion adapter and projector tensor names (clip-impl.h TN_MNV5_*, TN_MM_*). */
export const MNV5 = {
  stemConv: "v.conv_stem.conv.weight",
  stemBias: "v.conv_stem.conv.bias",
  stemNorm: "v.conv_stem.bn.weight",
  msfaExp: "v.msfa.ffn.pw_exp.conv.weight",
  msfaExpNorm: "v.msfa.ffn.pw_exp.bn.weight",
  msfaProj: "v.msfa.ffn.pw_proj.conv.weight",
  msfaProjNorm: "v.msfa.ffn.pw_proj.bn.weight",
  msfaNorm: "v.msfa.norm.weight",
  inputProjection: "mm.input_projection.weight",
  softEmbNorm: "mm.soft_emb_norm.weight",
} as const;

/** Per-block tensor suffixes (after "v.blk.<stage>.<index>."). */
export const BLOCK_SUFFIXES = {
  // edge residual (stage 0)
  convExp: "conv_exp.weight",
  bn1: "bn1.weight",
  convPwl: "conv_pwl.weight",
  bn2: "bn2.weight",
  // universal inverted residual
  dwStart: "dw_start.conv.weight",
  dwStartNorm: "dw_start.bn.weight",
  pwExp: "pw_exp.conv.weight",
  pwExpNorm: "pw_exp.bn.weight",
  dwMid: "dw_mid.conv.weight",
  dwMidNorm: "dw_mid.bn.weight",
  pwProj: "pw_proj.conv.weight",
  pwProjNorm: "pw_proj.bn.weight",
  layerScale: "layer_scale.gamma",
  // multi-query attention
  attnQ: "attn.query.proj.weight",
  attnK: "attn.key.proj.weight",
  attnV: "attn.value.proj.weight",
  attnO: "attn.output.proj.weight",
  attnKDown: "attn.key.down_conv.weight",
  attnKNorm: "attn.key.norm.weight",
  attnVDown: "attn.value.down_conv.weight",
  attnVNorm: "attn.value.norm.weight",
  attnNorm: "norm.weight",
} as const;
export type BlockTensor = keyof typeof BLOCK_SUFFIXES;

/** One block: its kind (as clip.cpp's graph picks it) and the GGUF name prefix of its tensors. */
export interface MobileNetV5Block {
  /** edge residual, multi-query attention, or universal inverted residual. */
  kind: "edge" | "mqa" | "uir";
  /** "v.blk.<stage>.<index>" */
  prefix: string;
  /** Which of the block's tensors the file holds. */
  has: Set<BlockTensor>;
}

export interface MobileNetV5Config {
  projector: typeof GEMMA3NV;
  /** clip.vision.image_size: the square input side in pixels (768 for Gemma 3n). */
  imageSize: number;
  /** clip.vision.patch_size: imageSize / soft-token count (llama.cpp derives the token count from it). */
  patchSize: number;
  /** clip.vision.embedding_length: channels out of the fusion adapter (2048 for Gemma 3n). */
  nEmbd: number;
  /** clip.vision.projection_dim: the text model's width. */
  projectionDim: number;
  /** clip.vision.image_mean / image_std (0 and 1 for Gemma 3n: pixels are x/255). */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** Blocks of each stage in order (clip.cpp reads up to 4 stages). */
  stages: MobileNetV5Block[][];
}

/** The output grid side of the fusion adapter: fixed at 16 in llama.cpp (mobilenetv5.cpp target_out_res). */
export const MSFA_OUTPUT_SIDE = 16;
/** The RMS-norm epsilon of every norm in the encoder and projector (hard-coded 1e-6 in llama.cpp). */
export const MNV5_EPS = 1e-6;

export const blockName = (b: MobileNetV5Block, t: BlockTensor) => `${b.prefix}.${BLOCK_SUFFIXES[t]}`;

/** Number of soft tokens per image llama.cpp reports (clip_n_output_tokens: image_size / patch_size). */
export function nImageTokens(c: MobileNetV5Config): number {
  return Math.floor(c.imageSize / c.patchSize);
}

/**
 * Finds the blocks from tensor names like clip.cpp's loader: stages 0–3, indices from 0 until a block has none
 * of conv_exp, dw_start, pw_exp or attn.query.proj.
 */
export function discoverBlocks(hasTensor: (name: string) => boolean): MobileNetV5Block[][] {
  const stages: MobileNetV5Block[][] = [];
  for (let stage = 0; stage < 4; stage++) {
    const blocks: MobileNetV5Block[] = [];
    for (let i = 0; ; i++) {
      const prefix = `v.blk.${stage}.${i}`;
      const has = new Set<BlockTensor>();
      for (const key of Object.keys(BLOCK_SUFFIXES) as BlockTensor[])
        if (hasTensor(`${prefix}.${BLOCK_SUFFIXES[key]}`)) has.add(key);
      const edge = has.has("convExp");
      const uir = !edge && (has.has("dwStart") || has.has("pwExp"));
      const mqa = has.has("attnQ");
      if (!edge && !uir && !mqa) break;
      blocks.push({ kind: edge ? "edge" : mqa ? "mqa" : "uir", prefix, has });
    }
    if (blocks.length) stages.push(blocks);
  }
  return stages;
}

function floats3(file: GgufFile, key: string): [number, number, number] {
  const v = file.get(key);
  const items = Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>) : [];
  if (items.length < 3 || items.slice(0, 3).some((x) => typeof x !== "number" || !Number.isFinite(x)))
    throw new InputError(`${key} must be an array of 3 numbers`, { file: file.path, field: key });
  return items.slice(0, 3) as [number, number, number];
}

/** Reads a gemma3nv mmproj's configuration (metadata + block discovery); throws InputError naming the key. */
export function readMobileNetV5Config(file: GgufFile): MobileNetV5Config {
  const proj = file.getString("clip.projector_type", "") || file.getString("clip.vision.projector_type", "");
  if (proj !== GEMMA3NV)
    throw new InputError(`projector type "${proj}" is not ${GEMMA3NV} (Gemma 3n vision)`, {
      file: file.path,
      field: "clip.projector_type",
    });
  const c: MobileNetV5Config = {
    projector: GEMMA3NV,
    imageSize: file.getNumber("clip.vision.image_size"),
    patchSize: file.getNumber("clip.vision.patch_size"),
    nEmbd: file.getNumber("clip.vision.embedding_length"),
    projectionDim: file.getNumber("clip.vision.projection_dim"),
    imageMean: floats3(file, "clip.vision.image_mean"),
    imageStd: floats3(file, "clip.vision.image_std"),
    stages: discoverBlocks((n) => file.tensor(n) !== undefined),
  };
  validateMobileNetV5Config(c, file.path);
  return c;
}

/** Checks what the graph assumes (clip.cpp would assert or compute garbage otherwise). */
export function validateMobileNetV5Config(c: MobileNetV5Config, file?: string): void {
  const bad = (msg: string, field?: string) => new InputError(msg, { file, field });
  for (const [k, v] of [
    ["clip.vision.image_size", c.imageSize],
    ["clip.vision.patch_size", c.patchSize],
    ["clip.vision.embedding_length", c.nEmbd],
    ["clip.vision.projection_dim", c.projectionDim],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 1) throw bad(`${k} must be a positive integer, got ${v}`, k);
  if (c.stages.length === 0) throw bad("the mmproj has no MobileNet-V5 blocks (v.blk.<stage>.<index>.*)");
  // stem + one stride-2 start per stage; the fusion adapter needs the stage-2 map to be a multiple of 16
  const fused = fusedSide(c);
  if (fused % MSFA_OUTPUT_SIDE !== 0 && fused > MSFA_OUTPUT_SIDE)
    throw bad(
      `image size ${c.imageSize} gives a ${fused}×${fused} fused feature map, not a multiple of ${MSFA_OUTPUT_SIDE}`,
      "clip.vision.image_size",
    );
  const side = Math.min(fused, MSFA_OUTPUT_SIDE);
  if (side * side !== nImageTokens(c))
    throw bad(
      `the encoder gives ${side * side} tokens but image_size/patch_size = ${nImageTokens(c)}`,
      "clip.vision.patch_size",
    );
}

/** Side of the feature map the fusion adapter works at (the first fusion point's resolution). */
export function fusedSide(c: MobileNetV5Config): number {
  let side = Math.ceil(c.imageSize / 2); // stem, SAME padding, stride 2
  const fuseStage = c.stages.length >= 4 ? 2 : c.stages.length - 1;
  for (let s = 0; s <= fuseStage; s++) side = Math.ceil(side / 2);
  return side;
}
