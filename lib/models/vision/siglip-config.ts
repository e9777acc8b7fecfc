// Gemma 3's vision tower (SigLIP ViT + the "gemma3" projector) as llama.cpp's tools/mtmd describes it:
// the clip.* metadata keys clip.cpp's load_hparams reads, and the tensor names/shapes its load_tensors asks
// for (clip-impl.h TN_* names, prefix "v"; ggml ne order).
import { InputError } from "../../util/errors.js";
import type { GgufFile } from "../../gguf/index.js";
import { gguf, type GgufMetadataValue } from "../../gguf/index.js";
import type { TensorSpec } from "../tensors.js";

export interface SiglipVisionConfig {
  /** clip.projector_type; only Gemma 3's projector is built here. */
  projector: "gemma3";
  /** clip.vision.image_size: side of the square input (896 for Gemma 3). */
  imageSize: number;
  /** clip.vision.patch_size (14). */
  patchSize: number;
  /** clip.vision.embedding_length (1152). */
  nEmbd: number;
  /** clip.vision.feed_forward_length (4304). Must differ from nEmbd: llama.cpp swaps ffn_up/ffn_down otherwise. */
  nFf: number;
  /** clip.vision.block_count. */
  nLayer: number;
  /** clip.vision.attention.head_count; head size nEmbd / nHead. */
  nHead: number;
  /** clip.vision.attention.layer_norm_epsilon (1e-6): the layer norms' and the projector RMS norm's eps. */
  eps: number;
  /** clip.vision.projection_dim: the text model's embedding width. */
  projectionDim: number;
  /** clip.vision.projector.scale_factor: side of the average-pooling window (default 4). */
  mergeFactor: number;
  /** clip.vision.image_mean / image_std (RGB). */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
}

export const patchesPerSide = (c: SiglipVisionConfig) => c.imageSize / c.patchSize;
export const nPatches = (c: SiglipVisionConfig) => patchesPerSide(c) ** 2;
export const tokensPerSide = (c: SiglipVisionConfig) => patchesPerSide(c) / c.mergeFactor;
/** Soft tokens per image (256 for Gemma 3). */
export const nImageTokens = (c: SiglipVisionConfig) => tokensPerSide(c) ** 2;

/** Rejects configurations llama.cpp would reject or mis-read, naming the metadata key. */
export function validateSiglipConfig(c: SiglipVisionConfig, file?: string): void {
  const bad = (field: string, why: string): never => {
    throw new InputError(`vision config: ${field} ${why}`, { file, field });
  };
  for (const [k, v] of Object.entries({
    imageSize: c.imageSize,
    patchSize: c.patchSize,
    nEmbd: c.nEmbd,
    nFf: c.nFf,
    nLayer: c.nLayer,
    nHead: c.nHead,
    projectionDim: c.projectionDim,
    mergeFactor: c.mergeFactor,
  }))
    if (!Number.isSafeInteger(v) || v < 1) bad(k, `must be a positive integer, got ${v}`);
  if (c.projector !== "gemma3") bad("clip.projector_type", `"${c.projector}" is not supported (gemma3)`);
  if (c.imageSize % c.patchSize !== 0)
    bad("clip.vision.image_size", `${c.imageSize} is not a multiple of the patch size ${c.patchSize}`);
  if (patchesPerSide(c) % c.mergeFactor !== 0)
    bad(
      "clip.vision.projector.scale_factor",
      `${c.mergeFactor} does not divide the ${patchesPerSide(c)} patches per side`,
    );
  if (c.nEmbd % c.nHead !== 0)
    bad("clip.vision.attention.head_count", `${c.nHead} does not divide ${c.nEmbd}`);
  if (c.nFf === c.nEmbd)
    bad(
      "clip.vision.feed_forward_length",
      "equal to the embedding length: llama.cpp would swap ffn_up/ffn_down",
    );
  if (!(c.eps > 0)) bad("clip.vision.attention.layer_norm_epsilon", `must be > 0, got ${c.eps}`);
  if (c.imageStd.some((s) => !(s > 0))) bad("clip.vision.image_std", "entries must be > 0");
}

function rgb(file: GgufFile, key: string): [number, number, number] {
  const v = file.get(key);
  const items =
    ArrayBuffer.isView(v) || Array.isArray(v)
      ? Array.from(v as ArrayLike<number | bigint>, Number)
      : undefined;
  if (!items || items.length < 3 || items.some((x) => !Number.isFinite(x)))
    throw new InputError(`metadata "${key}" should be an array of 3 numbers`, {
      file: file.path,
      field: key,
    });
  return [items[0], items[1], items[2]];
}

/** Reads the vision config of an mmproj GGUF with projector "gemma3". */
export function readSiglipConfig(file: GgufFile): SiglipVisionConfig {
  const arch = file.getString("general.architecture", "");
  if (arch !== "clip")
    throw new InputError(`not an mmproj file: general.architecture is "${arch}", not "clip"`, {
      file: file.path,
    });
  const projector =
    file.getString("clip.projector_type", "") || file.getString("clip.vision.projector_type", "");
  if (projector !== "gemma3")
    throw new InputError(
      `projector "${projector}" is not supported here (gemma3${projector === "gemma3nv" ? "; gemma3nv is MobileNet-V5" : ""})`,
      { file: file.path, field: "clip.projector_type" },
    );
  if (file.get("clip.has_vision_encoder") !== true)
    throw new InputError("clip.has_vision_encoder is not true", { file: file.path });
  const n = (key: string, fallback?: number) => file.getNumber(key, fallback);
  const c: SiglipVisionConfig = {
    projector: "gemma3",
    imageSize: n("clip.vision.image_size"),
    patchSize: n("clip.vision.patch_size"),
    nEmbd: n("clip.vision.embedding_length"),
    nFf: n("clip.vision.feed_forward_length"),
    nLayer: n("clip.vision.block_count"),
    nHead: n("clip.vision.attention.head_count"),
    eps: n("clip.vision.attention.layer_norm_epsilon"),
    projectionDim: n("clip.vision.projection_dim"),
    mergeFactor: n("clip.vision.projector.scale_factor", 4),
    imageMean: rgb(file, "clip.vision.image_mean"),
    imageStd: rgb(file, "clip.vision.image_std"),
  };
  const headCountKv = file.get("clip.vision.attention.head_count_kv");
  if (headCountKv !== undefined && headCountKv !== c.nHead)
    throw new InputError("grouped-query attention in the vision tower is not supported", {
      file: file.path,
      field: "clip.vision.attention.head_count_kv",
    });
  if (file.get("clip.use_gelu") !== true)
    throw new InputError("clip.use_gelu is not true (Gemma 3's SigLIP uses GELU)", {
      file: file.path,
      field: "clip.use_gelu",
    });
  validateSiglipConfig(c, file.path);
  return c;
}

/** The clip.* metadata llama.cpp's clip loader reads, in the order convert_hf_to_gguf.py writes it. */
export function siglipMetadata(
  c: SiglipVisionConfig,
  o: { name?: string; fileType?: number } = {},
): Array<[string, GgufMetadataValue]> {
  validateSiglipConfig(c);
  const meta: Array<[string, GgufMetadataValue]> = [
    ["general.architecture", gguf.str("clip")],
    ["general.type", gguf.str("mmproj")],
    ["general.name", gguf.str(o.name ?? "tunekit gemma3 vision")],
    ["general.file_type", gguf.u32(o.fileType ?? 0)],
    ["clip.has_vision_encoder", gguf.bool(true)],
    ["clip.vision.projection_dim", gguf.u32(c.projectionDim)],
    ["clip.vision.image_size", gguf.u32(c.imageSize)],
    ["clip.vision.patch_size", gguf.u32(c.patchSize)],
    ["clip.vision.embedding_length", gguf.u32(c.nEmbd)],
    ["clip.vision.feed_forward_length", gguf.u32(c.nFf)],
    ["clip.vision.block_count", gguf.u32(c.nLayer)],
    ["clip.vision.attention.head_count", gguf.u32(c.nHead)],
    ["clip.vision.image_mean", gguf.arr("f32", c.imageMean)],
    ["clip.vision.image_std", gguf.arr("f32", c.imageStd)],
    ["clip.projector_type", gguf.str("gemma3")],
    ["clip.vision.attention.layer_norm_epsilon", gguf.f32(c.eps)],
    ["clip.use_gelu", gguf.bool(true)],
  ];
  // llama.cpp's converter writes the scale factor only when it is not the default 4
  if (c.mergeFactor !== 4) meta.push(["clip.vision.projector.scale_factor", gguf.u32(c.mergeFactor)]);
  return meta;
}

/** Tensor names and shapes clip.cpp loads for a gemma3 mmproj (biases and norms are vectors). */
export function siglipTensorSpecs(c: SiglipVisionConfig): TensorSpec[] {
  const p = c.patchSize;
  const e = c.nEmbd;
  const specs: TensorSpec[] = [
    { name: "v.patch_embd.weight", shape: [p, p, 3, e], kind: "small" },
    { name: "v.patch_embd.bias", shape: [e], kind: "vector" },
    { name: "v.position_embd.weight", shape: [e, nPatches(c)], kind: "small" },
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const b = `v.blk.${i}`;
    specs.push(
      { name: `${b}.ln1.weight`, shape: [e], kind: "vector" },
      { name: `${b}.ln1.bias`, shape: [e], kind: "vector" },
    );
    for (const m of ["attn_q", "attn_k", "attn_v", "attn_out"])
      specs.push(
        { name: `${b}.${m}.weight`, shape: [e, e], kind: "matrix" },
        { name: `${b}.${m}.bias`, shape: [e], kind: "vector" },
      );
    specs.push(
      { name: `${b}.ln2.weight`, shape: [e], kind: "vector" },
      { name: `${b}.ln2.bias`, shape: [e], kind: "vector" },
      { name: `${b}.ffn_up.weight`, shape: [e, c.nFf], kind: "matrix" },
      { name: `${b}.ffn_up.bias`, shape: [c.nFf], kind: "vector" },
      { name: `${b}.ffn_down.weight`, shape: [c.nFf, e], kind: "matrix" },
      { name: `${b}.ffn_down.bias`, shape: [e], kind: "vector" },
    );
  }
  specs.push(
    { name: "v.post_ln.weight", shape: [e], kind: "vector" },
    { name: "v.post_ln.bias", shape: [e], kind: "vector" },
    { name: "mm.soft_emb_norm.weight", shape: [e], kind: "vector" },
    { name: "mm.input_projection.weight", shape: [c.projectionDim, e], kind: "matrix" },
  );
  return specs;
}

/** Names the `linear` hook of buildSiglipVision sees (LoRA targets), in graph order. */
export function visionLinearNames(c: SiglipVisionConfig): string[] {
  const names: string[] = [];
  for (let i = 0; i < c.nLayer; i++)
    for (const m of ["attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down"])
      names.push(`v.blk.${i}.${m}`);
  names.push("mm.input_projection");
  return names;
}
