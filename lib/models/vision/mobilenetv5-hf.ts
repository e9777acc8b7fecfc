// Hugging Face Gemma 3n checkpoint (Gemma3nForConditionalGeneration: config.json, preprocessor_config.json,
// *.safetensors) → gemma3nv mmproj GGUF, as convert_hf_to_gguf.py's Gemma3nVisionAudioModel writes its vision
// part with --outtype f16: timm block names model.vision_tower.timm_model.blocks.S.I.* → v.blk.S.I.*, the stem,
// fusion adapter and embedder through gguf-py's tensor_mapping, the stem bias and layer scales unsqueezed to
// [1, C, 1, 1], PyTorch shapes reversed into ggml order; stem f32, input projection f16, vectors and non-".weight"
// tensors f32, other kernels f16. Audio tensors are left out (llama.cpp skips Gemma 3n audio).
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { GgmlType } from "../../gguf/ggml-types.js";
import { InputError } from "../../util/errors.js";
import { castF32, floatBytesToF32 } from "../cast.js";
import { readSafetensorsIndex } from "../convert-hf.js";
import {
  BLOCK_SUFFIXES,
  GEMMA3NV,
  MNV5,
  discoverBlocks,
  validateMobileNetV5Config,
} from "./mobilenetv5-config.js";
import type { MobileNetV5Config } from "./mobilenetv5-config.js";
import { saveMobileNetV5Mmproj } from "./mobilenetv5-model.js";
import type { VisionTensorBytes } from "./mobilenetv5-random.js";

const TIMM = "model.vision_tower.timm_model.";

/** Non-block tensors (gguf-py tensor_mapping.py, "# gemma3n" entries) → GGUF names. */
const FIXED: Record<string, string> = {
  [`${TIMM}conv_stem.conv.weight`]: MNV5.stemConv,
  [`${TIMM}conv_stem.conv.bias`]: MNV5.stemBias,
  [`${TIMM}conv_stem.bn.weight`]: MNV5.stemNorm,
  [`${TIMM}msfa.ffn.pw_exp.conv.weight`]: MNV5.msfaExp,
  [`${TIMM}msfa.ffn.pw_exp.bn.weight`]: MNV5.msfaExpNorm,
  [`${TIMM}msfa.ffn.pw_proj.conv.weight`]: MNV5.msfaProj,
  [`${TIMM}msfa.ffn.pw_proj.bn.weight`]: MNV5.msfaProjNorm,
  [`${TIMM}msfa.norm.weight`]: MNV5.msfaNorm,
  "model.embed_vision.embedding.weight": "mm.embedding.weight",
  "model.embed_vision.hard_embedding_norm.weight": "mm.hard_emb_norm.weight",
  "model.embed_vision.embedding_projection.weight": MNV5.inputProjection,
  "model.embed_vision.soft_embedding_norm.weight": MNV5.softEmbNorm,
};
const BLOCK_SUFFIX_SET = new Set<string>(Object.values(BLOCK_SUFFIXES));

/** The GGUF name of a Hugging Face vision tensor, undefined for tensors outside the vision tower/embedder. */
export function gemma3nVisionGgufName(hf: string): string | undefined {
  if (!hf.startsWith("model.vision_tower.") && !hf.startsWith("model.embed_vision.")) return undefined;
  const fixed = FIXED[hf];
  if (fixed) return fixed;
  const m = /^model\.vision_tower\.timm_model\.blocks\.(\d+)\.(\d+)\.(.+)$/.exec(hf);
  if (m && BLOCK_SUFFIX_SET.has(m[3])) return `v.blk.${m[1]}.${m[2]}.${m[3]}`;
  throw new InputError(`unknown Gemma 3n vision tensor "${hf}"`, { field: hf });
}

/** The ggml type convert_hf_to_gguf.py (--outtype f16) gives a converted tensor. */
function outputType(gguf: string, ne: number[]): number {
  if (gguf === MNV5.inputProjection) return GgmlType.F16;
  if (gguf.includes("stem")) return GgmlType.F32;
  if (ne.length <= 1 || gguf.endsWith("_norm.weight") || !gguf.endsWith(".weight")) return GgmlType.F32;
  return GgmlType.F16;
}

export interface ConvertGemma3nVisionOptions {
  /** Checkpoint folder: config.json, preprocessor_config.json (optional), *.safetensors. */
  dir: string;
  /** Output mmproj path (written atomically). */
  out: string;
}

export interface ConvertGemma3nVisionResult {
  out: string;
  config: MobileNetV5Config;
  tensors: number;
  bytes: number;
}

/** Converts the vision tower + embedder of a Hugging Face Gemma 3n checkpoint into a gemma3nv mmproj. */
export async function convertGemma3nVisionHf(
  o: ConvertGemma3nVisionOptions,
): Promise<ConvertGemma3nVisionResult> {
  const configPath = join(o.dir, "config.json");
  if (!existsSync(configPath)) throw new InputError("no config.json", { file: o.dir });
  const cfg = JSON.parse(readFileSync(configPath, "utf8")) as {
    vision_config?: { hidden_size?: number };
    text_config?: { hidden_size?: number };
  };
  if (!cfg.vision_config)
    throw new InputError("config.json has no vision_config (not a Gemma3nForConditionalGeneration)", {
      file: configPath,
      field: "vision_config",
    });
  const textEmbd = cfg.text_config?.hidden_size;
  if (typeof textEmbd !== "number")
    throw new InputError("config.json has no text_config.hidden_size", {
      file: configPath,
      field: "text_config",
    });
  const preprocPath = join(o.dir, "preprocessor_config.json");
  const pre = existsSync(preprocPath)
    ? (JSON.parse(readFileSync(preprocPath, "utf8")) as {
        size?: { height?: number };
        image_seq_length?: number;
      })
    : {};
  const imageSize = pre.size?.height ?? 768;
  const seq = pre.image_seq_length ?? 256;

  const tensors = new Map<string, VisionTensorBytes>();
  const files = readdirSync(o.dir)
    .filter((f) => f.endsWith(".safetensors"))
    .sort();
  if (files.length === 0) throw new InputError("no .safetensors files", { file: o.dir });
  for (const f of files)
    for (const [hf, e] of readSafetensorsIndex(join(o.dir, f))) {
      const name = gemma3nVisionGgufName(hf);
      if (!name) continue;
      const torchShape =
        name === MNV5.stemBias || name.endsWith(".layer_scale.gamma") ? [1, e.shape[0], 1, 1] : e.shape;
      if ((name === MNV5.stemBias || name.endsWith(".layer_scale.gamma")) && e.shape.length !== 1)
        throw new InputError(`tensor "${hf}" should be a vector, has shape [${e.shape}]`, { file: e.file });
      const ne = [...torchShape].reverse();
      const type = outputType(name, ne);
      tensors.set(name, { type, shape: ne, data: castF32(readValues(e), type) });
    }
  const nEmbd = tensors.get(MNV5.msfaNorm)?.shape[0] ?? cfg.vision_config.hidden_size ?? 2048;
  const config: MobileNetV5Config = {
    projector: GEMMA3NV,
    imageSize,
    patchSize: Math.floor(imageSize / seq),
    nEmbd,
    projectionDim: textEmbd,
    // MobileNet-V5 takes x/255: convert_hf_to_gguf overrides the processor's mean/std with 0 and 1
    imageMean: [0, 0, 0],
    imageStd: [1, 1, 1],
    stages: discoverBlocks((n) => tensors.has(n)),
  };
  validateMobileNetV5Config(config, o.dir);
  for (const required of [MNV5.stemConv, MNV5.inputProjection])
    if (!tensors.has(required))
      throw new InputError(`the checkpoint has no ${required} equivalent`, { file: o.dir });
  const { bytes } = await saveMobileNetV5Mmproj(o.out, config, tensors, { name: "gemma3n vision (tunekit)" });
  return { out: o.out, config, tensors: tensors.size, bytes };
}

/** A safetensors tensor's values (F32, F16 or BF16) as floats. */
function readValues(e: { file: string; dtype: string; start: number; end: number }): Float32Array {
  const bytes = new Uint8Array(e.end - e.start);
  const fd = openSync(e.file, "r");
  try {
    if (readSync(fd, bytes, 0, bytes.length, e.start) !== bytes.length)
      throw new InputError("truncated tensor data", { file: e.file });
  } finally {
    closeSync(fd);
  }
  const type = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 }[e.dtype];
  if (type === undefined) throw new InputError(`dtype ${e.dtype} is not supported`, { file: e.file });
  return floatBytesToF32(type, bytes);
}
