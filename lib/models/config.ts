// Hyperparameters of a decoder model, read from GGUF metadata with llama.cpp's keys and defaults.
import { InputError } from "../util/errors.js";
import type { GgufFile } from "../gguf/index.js";
import { RopeMode } from "../engine/ops.js";
import { readGemma3nConfig, type Gemma3nConfig } from "./arch/gemma3n-config.js";

export const SUPPORTED_ARCHS = ["llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3n"] as const;
export type Arch = (typeof SUPPORTED_ARCHS)[number];

export interface ModelConfig {
  arch: Arch;
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  /** Size of one attention head (key and value). */
  headDim: number;
  nFf: number;
  normEps: number;
  /** RoPE base of global layers, and of sliding-window layers. */
  ropeBase: number;
  ropeBaseSwa: number;
  ropeMode: number;
  /** Dimensions rotated per head. */
  nRot: number;
  nCtxTrain: number;
  /** Sliding-window size (0: none) and which layers use it. */
  slidingWindow: number;
  swaLayers: boolean[];
  /** Gemma 2: tanh soft-capping of attention scores and of final logits (0: off). */
  attnSoftcap: number;
  finalSoftcap: number;
  /** Factor applied to Q before attention (1/√headDim for all supported archs). */
  attnScale: number;
  /** Factor applied to token embeddings (√nEmbd for Gemma, 1 otherwise). */
  embedScale: number;
  /** RMS norm of each head's Q and K (Qwen3, Gemma 3). */
  qkNorm: boolean;
  /** Norms after attention and after the FFN (Gemma 2/3). */
  postNorms: boolean;
  /** Gated FFN activation. */
  ffnAct: "silu" | "gelu";
  /** Gemma 3n only: AltUp, Laurel, per-layer embeddings, activation sparsity, KV sharing (arch/gemma3n.ts). */
  gemma3n?: Gemma3nConfig;
}

/** Per-architecture constants that are not in the metadata (from llama.cpp src/models/<arch>.cpp). */
const ARCH_TRAITS: Record<
  Arch,
  Pick<ModelConfig, "ropeMode" | "qkNorm" | "postNorms" | "ffnAct"> & {
    embedScaled: boolean;
    swaPattern: number;
  }
> = {
  llama: {
    ropeMode: RopeMode.NORMAL,
    qkNorm: false,
    postNorms: false,
    ffnAct: "silu",
    embedScaled: false,
    swaPattern: 0,
  },
  qwen2: {
    ropeMode: RopeMode.NEOX,
    qkNorm: false,
    postNorms: false,
    ffnAct: "silu",
    embedScaled: false,
    swaPattern: 0,
  },
  qwen3: {
    ropeMode: RopeMode.NEOX,
    qkNorm: true,
    postNorms: false,
    ffnAct: "silu",
    embedScaled: false,
    swaPattern: 0,
  },
  gemma: {
    ropeMode: RopeMode.NEOX,
    qkNorm: false,
    postNorms: false,
    ffnAct: "gelu",
    embedScaled: true,
    swaPattern: 0,
  },
  gemma2: {
    ropeMode: RopeMode.NEOX,
    qkNorm: false,
    postNorms: true,
    ffnAct: "gelu",
    embedScaled: true,
    swaPattern: 2,
  },
  gemma3: {
    ropeMode: RopeMode.NEOX,
    qkNorm: true,
    postNorms: true,
    ffnAct: "gelu",
    embedScaled: true,
    swaPattern: 6,
  },
  gemma3n: {
    ropeMode: RopeMode.NEOX,
    qkNorm: true,
    postNorms: true,
    ffnAct: "gelu",
    embedScaled: true,
    swaPattern: 5,
  },
};

export function isSupportedArch(a: string): a is Arch {
  return (SUPPORTED_ARCHS as readonly string[]).includes(a);
}

/** Reads and checks the hyperparameters of a GGUF model. */
export function readModelConfig(f: GgufFile): ModelConfig {
  const arch = f.getString("general.architecture");
  if (!isSupportedArch(arch))
    throw new InputError(
      `architecture "${arch}" is not supported (supported: ${SUPPORTED_ARCHS.join(", ")})`,
      {
        file: f.path,
        field: "general.architecture",
      },
    );
  const k = (key: string) => `${arch}.${key}`;
  const nEmbd = f.getNumber(k("embedding_length"));
  const nHead = f.getNumber(k("attention.head_count"));
  const nLayer = f.getNumber(k("block_count"));
  const headDim = f.getNumber(k("attention.key_length"), nEmbd / nHead);
  const nHeadKv = f.getNumber(k("attention.head_count_kv"), nHead);
  const tokens = f.get("tokenizer.ggml.tokens");
  const embd = f.tensor("token_embd.weight");
  const nVocab = f.getNumber(k("vocab_size"), embd?.shape[1] ?? (Array.isArray(tokens) ? tokens.length : 0));
  const traits = ARCH_TRAITS[arch];
  const slidingWindow = !traits.swaPattern
    ? 0
    : arch === "gemma3n" // required by llama.cpp's gemma3n loader
      ? f.getNumber(k("attention.sliding_window"))
      : f.getNumber(k("attention.sliding_window"), arch === "gemma2" ? 4096 : 0);
  // gemma3n's pattern may be one boolean per layer (read in readGemma3nConfig)
  const pattern =
    arch === "gemma3n" ? 0 : f.getNumber(k("attention.sliding_window_pattern"), traits.swaPattern);
  const ropeBase = f.getNumber(k("rope.freq_base"), 10000);
  const cfg: ModelConfig = {
    arch,
    nVocab,
    nEmbd,
    nLayer,
    nHead,
    nHeadKv,
    headDim,
    nFf: f.getNumber(k("feed_forward_length")),
    normEps: f.getNumber(k("attention.layer_norm_rms_epsilon"), 1e-5),
    ropeBase,
    ropeBaseSwa: f.getNumber(k("rope.freq_base_swa"), arch === "gemma2" ? ropeBase : 10000),
    ropeMode: traits.ropeMode,
    nRot: f.getNumber(k("rope.dimension_count"), headDim),
    nCtxTrain: f.getNumber(k("context_length"), 2048),
    slidingWindow,
    swaLayers: Array.from(
      { length: nLayer },
      (_, il) => slidingWindow > 0 && pattern > 0 && il % pattern < pattern - 1,
    ),
    attnSoftcap: arch === "gemma2" ? f.getNumber(k("attn_logit_softcapping"), 50) : 0,
    finalSoftcap:
      arch === "gemma2" || arch === "gemma3"
        ? f.getNumber(k("final_logit_softcapping"), arch === "gemma2" ? 30 : 0)
        : 0,
    attnScale: 1 / Math.sqrt(headDim),
    embedScale: traits.embedScaled ? Math.sqrt(nEmbd) : 1,
    qkNorm: traits.qkNorm,
    postNorms: traits.postNorms,
    ffnAct: traits.ffnAct,
  };
  if (arch === "gemma3n") {
    // Q and K are RMS-normed, so llama.cpp leaves the scores unscaled (f_attention_scale = 1)
    const g = readGemma3nConfig(f, nLayer);
    Object.assign(cfg, { ...g, attnScale: 1 });
  }
  validateConfig(cfg, f.path);
  return cfg;
}

export function validateConfig(c: ModelConfig, file?: string): void {
  const bad = (field: string, why: string) => new InputError(why, { file, field: `${c.arch}.${field}` });
  for (const [name, v] of Object.entries({
    nEmbd: c.nEmbd,
    nLayer: c.nLayer,
    nHead: c.nHead,
    nHeadKv: c.nHeadKv,
    headDim: c.headDim,
    nFf: c.nFf,
    nVocab: c.nVocab,
  }))
    if (!Number.isSafeInteger(v) || v < 1 || v > 1 << 24)
      throw bad(name, `${name} = ${v} is not a sensible size`);
  if (c.nHead % c.nHeadKv !== 0)
    throw bad("attention.head_count_kv", `${c.nHead} heads are not a multiple of ${c.nHeadKv} KV heads`);
  if (c.nRot % 2 !== 0 || c.nRot > c.headDim)
    throw bad("rope.dimension_count", `rotated dims ${c.nRot} must be even and ≤ ${c.headDim}`);
  if (!(c.normEps > 0 && c.normEps < 1)) throw bad("attention.layer_norm_rms_epsilon", `eps ${c.normEps}`);
}
