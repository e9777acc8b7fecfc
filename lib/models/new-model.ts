// New models from scratch: random weights (seeded) for any supported architecture, written as a GGUF with
// the metadata llama.cpp's loaders read for that architecture (src/models/<arch>.cpp load_arch_hparams)
// and a tokenizer copied from another GGUF. Used for tests, benchmarks and pretraining.
import { basename, dirname, join } from "node:path";
import { GgmlType } from "../gguf/ggml-types.js";
import {
  GgufValueType,
  gguf,
  openGguf,
  writeGguf,
  type GgufArray,
  type GgufMetadataValue,
} from "../gguf/index.js";
import { InputError } from "../util/errors.js";
import { sharedDir } from "../util/paths.js";
import { isSupportedArch, SUPPORTED_ARCHS, validateConfig, type Arch, type ModelConfig } from "./config.js";
import { tensorSpecs, type TensorSpec } from "./tensors.js";
import { RopeMode } from "../engine/ops.js";
import { castF32 } from "./cast.js";
import {
  gemma3nMetadata,
  newGemma3nConfig,
  swaPatternLayers,
  GEMMA3N_LLAMA_CPP,
} from "./arch/gemma3n-config.js";
import { randomMmproj, saveMmproj, type RandomMmprojOptions } from "./vision/mmproj.js";
import { nImageTokens } from "./vision/siglip-config.js";
import { writeRandomGemma3nMmproj } from "./vision/mobilenetv5-model.js";

/** What model to make. Omitted dimensions take small per-architecture defaults (see ARCH_DEFAULTS). */
export interface NewModelOptions {
  /**
   * Architecture (llama, qwen2, qwen3, gemma, gemma2, gemma3, gemma3n). gemma3n models get llama.cpp's fixed
   * AltUp (4 streams), Laurel rank 64 and per-layer embedding width 256 — the only values its loader accepts —
   * activation sparsity on layers 0–9, and keys/values shared from layer 20 on.
   */
  arch: string;
  /** Embedding width (n_embd). */
  dim?: number;
  /** Number of decoder blocks. */
  layers?: number;
  /** Attention (query) heads. */
  heads?: number;
  /** Key/value heads (grouped-query attention); must divide `heads`. */
  kvHeads?: number;
  /** Size of one attention head (key and value). Default dim / heads (32 for Gemma and Qwen 3). */
  headDim?: number;
  /** Hidden width of the gated FFN. */
  ffn?: number;
  /**
   * Vocabulary size. Default: the tokenizer's. A smaller value keeps the tokenizer's first `vocab`
   * tokens (special tokens must be among them); a larger one is refused.
   */
  vocab?: number;
  /** Sliding-window size of the local layers (gemma2, gemma3, gemma3n). Default 8, small so it matters in tests. */
  slidingWindow?: number;
  /** Training context length written to the metadata. Default 2048. */
  contextLength?: number;
  /** GGUF whose tokenizer.* metadata is copied. Default ../shared/models/tiny-random-llama (Llama 2 32k). */
  tokenizerFrom?: string;
  /** Seed of the random weights: the same seed and options give the same bytes. */
  seed: number;
  /** Output GGUF path (written atomically). */
  out: string;
  /** Type of the matrices (norm weights and biases stay f32). Default f32. */
  type?: "f32" | "f16";
  /**
   * Also write a tiny random vision tower as `mmproj-<out file name>` next to the model (gemma3: SigLIP
   * + gemma3 projector, projection width = dim), which llama.cpp's mtmd loads with it. `true` takes the
   * defaults of randomMmproj (64 px images, patch 8, 2 layers, 16 soft tokens per image). gemma3n: a tiny
   * MobileNet-V5 + gemma3n projector (every block kind, vision width = dim, 512 px images by default — only
   * imageSize applies, a multiple of 256 — and always 256 soft tokens per image).
   */
  vision?: boolean | Omit<RandomMmprojOptions, "textEmbd" | "seed">;
}

/** What was written. */
export interface NewModelResult {
  out: string;
  arch: Arch;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  /** Sliding window of the local layers (0: none). */
  slidingWindow: number;
  type: "f32" | "f16";
  tokenizerFrom: string;
  /** Number of weights. */
  parameters: number;
  /** File size in bytes. */
  bytes: number;
  /** The vision tower written with `vision`: mmproj path, image size, soft tokens per image. */
  mmproj?: {
    out: string;
    imageSize: number;
    patchSize: number;
    layers: number;
    imageTokens: number;
    bytes: number;
  };
}

interface ArchDefaults {
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim?: number;
  ffn: number;
  normEps: number;
  ropeBase: number;
  /** Whether output.weight is written (false: tied to token_embd, which gemma/gemma2 require). */
  untiedOutput: boolean;
}

/**
 * Small defaults; gemma3 has 7 layers so that both local (0–4, 6) and global (5) layers exist, gemma3n 6
 * (local 0–3 and 5, global 4).
 */
const ARCH_DEFAULTS: Record<Arch, ArchDefaults> = {
  llama: {
    dim: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 128,
    normEps: 1e-5,
    ropeBase: 10000,
    untiedOutput: true,
  },
  qwen2: {
    dim: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 128,
    normEps: 1e-6,
    ropeBase: 1e6,
    untiedOutput: true,
  },
  qwen3: {
    dim: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 32,
    ffn: 128,
    normEps: 1e-6,
    ropeBase: 1e6,
    untiedOutput: false,
  },
  gemma: {
    dim: 64,
    layers: 2,
    heads: 4,
    kvHeads: 1,
    headDim: 32,
    ffn: 128,
    normEps: 1e-6,
    ropeBase: 10000,
    untiedOutput: false,
  },
  gemma2: {
    dim: 64,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 32,
    ffn: 128,
    normEps: 1e-6,
    ropeBase: 10000,
    untiedOutput: false,
  },
  gemma3: {
    dim: 64,
    layers: 7,
    heads: 4,
    kvHeads: 2,
    headDim: 32,
    ffn: 128,
    normEps: 1e-6,
    ropeBase: 1e6,
    untiedOutput: false,
  },
  gemma3n: {
    dim: 64,
    layers: 6,
    heads: 4,
    kvHeads: 2,
    headDim: 32,
    ffn: 128,
    normEps: 1e-6,
    ropeBase: 1e6,
    untiedOutput: false,
  },
};

/** The tokenizer used when none is given: the Llama 2 32k SentencePiece vocabulary of tiny-random-llama. */
export function defaultTokenizerSource(): string | undefined {
  const shared = sharedDir();
  return shared && join(shared, "models", "tiny-random-llama", "llama-2-tiny-random.gguf");
}

/** Writes a GGUF model with random weights; see {@link NewModelOptions}. */
export async function newModelGguf(o: NewModelOptions): Promise<NewModelResult> {
  if (!isSupportedArch(o.arch))
    throw new InputError(
      `architecture "${o.arch}" is not supported (supported: ${SUPPORTED_ARCHS.join(", ")})`,
      { field: "arch" },
    );
  const arch = o.arch;
  const d = ARCH_DEFAULTS[arch];
  const type = o.type ?? "f32";
  if (type !== "f32" && type !== "f16")
    throw new InputError(`type must be f32 or f16, got "${String(type)}"`, { field: "type" });
  if (!Number.isSafeInteger(o.seed))
    throw new InputError(`seed must be an integer, got ${o.seed}`, { field: "seed" });
  const tokenizerFrom = o.tokenizerFrom ?? defaultTokenizerSource();
  if (!tokenizerFrom)
    throw new InputError("no tokenizer source: pass tokenizerFrom (../shared is absent)", {
      field: "tokenizerFrom",
    });

  const tokenizer = readTokenizerMetadata(tokenizerFrom);
  const vocab = o.vocab ?? tokenizer.nTokens;
  const tokMeta =
    vocab === tokenizer.nTokens
      ? tokenizer.metadata
      : vocab > tokenizer.nTokens
        ? padVocab(tokenizer.metadata, tokenizer.nTokens, vocab)
        : truncateVocab(tokenizer.metadata, tokenizer.nTokens, vocab, tokenizerFrom);

  const dim = o.dim ?? d.dim;
  const heads = o.heads ?? d.heads;
  const kvHeads = o.kvHeads ?? Math.min(d.kvHeads, heads);
  const headDim = o.headDim ?? d.headDim ?? dim / heads;
  const layers = o.layers ?? d.layers;
  const ffn = o.ffn ?? d.ffn;
  const hasSwa = arch === "gemma2" || arch === "gemma3" || arch === "gemma3n";
  const slidingWindow = hasSwa ? (o.slidingWindow ?? 8) : 0;
  const contextLength = o.contextLength ?? 2048;
  const cfg = configFor(arch, {
    dim,
    layers,
    heads,
    kvHeads,
    headDim,
    ffn,
    vocab,
    slidingWindow,
    contextLength,
    normEps: d.normEps,
    ropeBase: d.ropeBase,
  });
  validateConfig(cfg);
  if (hasSwa && !(Number.isSafeInteger(slidingWindow) && slidingWindow >= 1))
    throw new InputError(`sliding window ${slidingWindow} must be a positive integer`, {
      field: "slidingWindow",
    });

  const meta = architectureMetadata(cfg, {
    name: `tunekit random ${arch}`,
    fileType: type === "f16" ? 1 : 0,
  });
  meta.push(...tokMeta);

  const specs = tensorSpecs(cfg).filter((s) => !s.optional || (s.name === "output.weight" && d.untiedOutput));
  const ggmlMatrixType = type === "f16" ? GgmlType.F16 : GgmlType.F32;
  const tensors = specs.map((s) => {
    const t = s.kind === "vector" || s.kind === "small" ? GgmlType.F32 : ggmlMatrixType;
    return {
      name: s.name,
      type: t,
      shape: s.shape,
      data: () => castF32(randomTensor(s, dim, o.seed, arch), t),
    };
  });
  const parameters = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  if (o.vision && arch !== "gemma3" && arch !== "gemma3n")
    throw new InputError(`a vision tower can be made for gemma3 and gemma3n only, not ${arch}`, {
      field: "vision",
    });
  const mmproj = !o.vision
    ? undefined
    : arch === "gemma3n"
      ? await writeGemma3nTower(o.out, o.vision === true ? {} : o.vision, dim, o.seed)
      : await writeRandomMmproj(o.out, {
          ...(o.vision === true ? {} : o.vision),
          textEmbd: dim,
          seed: o.seed,
        });
  const { bytes } = await writeGguf(o.out, { metadata: meta, tensors });
  return {
    ...(mmproj ? { mmproj } : {}),
    out: o.out,
    arch,
    dim,
    layers,
    heads,
    kvHeads,
    headDim,
    ffn,
    vocab,
    slidingWindow,
    type,
    tokenizerFrom,
    parameters,
    bytes,
  };
}

/**
 * Gemma 3n: a tiny random MobileNet-V5 tower (mobilenetv5-random.ts) whose vision width equals the text width,
 * as llama.cpp's mtmd requires; only the image size is adjustable (a multiple of 256, default 512).
 */
async function writeGemma3nTower(
  modelOut: string,
  v: Omit<RandomMmprojOptions, "textEmbd" | "seed">,
  dim: number,
  seed: number,
): Promise<NonNullable<NewModelResult["mmproj"]>> {
  const other = Object.entries(v).filter(([k, x]) => k !== "imageSize" && x !== undefined);
  if (other.length)
    throw new InputError(
      `gemma3n's vision tower (MobileNet-V5) takes only an image size, not ${other.map(([k]) => k).join(", ")}`,
      { field: "vision" },
    );
  return writeRandomGemma3nMmproj(modelOut, { projectionDim: dim, seed, imageSize: v.imageSize });
}

/** Writes randomMmproj(o) as mmproj-<model file name> beside `modelOut`. */
async function writeRandomMmproj(
  modelOut: string,
  o: RandomMmprojOptions,
): Promise<NonNullable<NewModelResult["mmproj"]>> {
  const { config, tensors } = randomMmproj(o);
  const out = join(dirname(modelOut), `mmproj-${basename(modelOut)}`);
  const { bytes } = await saveMmproj(out, config, tensors, { name: "tunekit random gemma3 vision" });
  return {
    out,
    imageSize: config.imageSize,
    patchSize: config.patchSize,
    layers: config.nLayer,
    imageTokens: nImageTokens(config),
    bytes,
  };
}

/**
 * general.* and <arch>.* metadata describing `c` with the keys llama.cpp's loaders read
 * (src/models/<arch>.cpp load_arch_hparams; names from src/llama-arch.cpp).
 */
export function architectureMetadata(
  c: ModelConfig,
  o: { name: string; fileType: number },
): Array<[string, GgufMetadataValue]> {
  const k = (key: string) => `${c.arch}.${key}`;
  const meta: Array<[string, GgufMetadataValue]> = [
    ["general.architecture", gguf.str(c.arch)],
    ["general.name", gguf.str(o.name)],
    ["general.file_type", gguf.u32(o.fileType)],
    [k("vocab_size"), gguf.u32(c.nVocab)],
    [k("context_length"), gguf.u32(c.nCtxTrain)],
    [k("embedding_length"), gguf.u32(c.nEmbd)],
    [k("block_count"), gguf.u32(c.nLayer)],
    [k("feed_forward_length"), gguf.u32(c.nFf)],
    [k("attention.head_count"), gguf.u32(c.nHead)],
    [k("attention.head_count_kv"), gguf.u32(c.nHeadKv)],
    [k("attention.key_length"), gguf.u32(c.headDim)],
    [k("attention.value_length"), gguf.u32(c.headDim)],
    [k("attention.layer_norm_rms_epsilon"), gguf.f32(c.normEps)],
    [k("rope.freq_base"), gguf.f32(c.ropeBase)],
    [k("rope.dimension_count"), gguf.u32(c.nRot)],
  ];
  if (c.arch === "gemma2" || c.arch === "gemma3")
    meta.push([k("attention.sliding_window"), gguf.u32(c.slidingWindow)]);
  if (c.arch === "gemma2")
    meta.push(
      [k("attn_logit_softcapping"), gguf.f32(c.attnSoftcap)],
      [k("final_logit_softcapping"), gguf.f32(c.finalSoftcap)],
    );
  if (c.arch === "gemma3") {
    meta.push([k("rope.freq_base_swa"), gguf.f32(c.ropeBaseSwa)]);
    if (c.finalSoftcap > 0) meta.push([k("final_logit_softcapping"), gguf.f32(c.finalSoftcap)]);
  }
  if (c.arch === "gemma3n") meta.push(...gemma3nMetadata(c));
  return meta;
}

/** The ModelConfig the written metadata describes (so that tensorSpecs gives the names llama.cpp loads). */
export function configFor(
  arch: Arch,
  p: {
    dim: number;
    layers: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    ffn: number;
    vocab: number;
    slidingWindow: number;
    contextLength: number;
    normEps: number;
    ropeBase: number;
  },
): ModelConfig {
  const gemma = arch.startsWith("gemma");
  if (arch === "gemma3n") {
    const swaLayers = swaPatternLayers(p.layers, GEMMA3N_LLAMA_CPP.swaPattern);
    return {
      ...configFor("gemma3", p),
      arch,
      swaLayers,
      finalSoftcap: GEMMA3N_LLAMA_CPP.finalSoftcap,
      attnScale: 1,
      gemma3n: newGemma3nConfig(p.layers, swaLayers),
    };
  }
  const pattern = arch === "gemma2" ? 2 : arch === "gemma3" ? 6 : 0;
  return {
    arch,
    nVocab: p.vocab,
    nEmbd: p.dim,
    nLayer: p.layers,
    nHead: p.heads,
    nHeadKv: p.kvHeads,
    headDim: p.headDim,
    nFf: p.ffn,
    normEps: p.normEps,
    ropeBase: p.ropeBase,
    ropeBaseSwa: 10000,
    ropeMode: arch === "llama" ? RopeMode.NORMAL : RopeMode.NEOX,
    nRot: p.headDim,
    nCtxTrain: p.contextLength,
    slidingWindow: p.slidingWindow,
    swaLayers: Array.from({ length: p.layers }, (_, il) => pattern > 0 && il % pattern < pattern - 1),
    attnSoftcap: arch === "gemma2" ? 50 : 0,
    finalSoftcap: arch === "gemma2" ? 30 : 0,
    attnScale: 1 / Math.sqrt(p.headDim),
    embedScale: gemma ? Math.sqrt(p.dim) : 1,
    qkNorm: arch === "qwen3" || arch === "gemma3",
    postNorms: arch === "gemma2" || arch === "gemma3",
    ffnAct: gemma ? "gelu" : "silu",
  };
}

/**
 * Random values for one tensor, from a generator seeded by (seed, name) so that each tensor is
 * independent of the others' order. Scales keep activations near unit size: matrices N(0, 1/fan_in),
 * embeddings N(0, 4/dim) so logits spread over a few nats, norm weights 1 ± 0.1 (llama.cpp's Gemma GGUFs
 * store norm weights with the +1 already added, so the same holds there), biases N(0, 0.1²).
 */
function randomTensor(s: TensorSpec, dim: number, seed: number, arch: Arch): Float32Array {
  const n = s.shape.reduce((a, b) => a * b, 1);
  const rnd = normalGenerator(seed, s.name);
  const out = new Float32Array(n);
  let mean = 0;
  let std: number;
  const special = arch === "gemma3n" ? gemma3nInit(s) : undefined;
  if (special) ({ mean, std } = special);
  else if (s.kind === "vector") {
    const isNorm = s.name.includes("norm");
    mean = isNorm ? 1 : 0;
    std = 0.1;
  } else if (s.kind === "embedding" || s.name === "output.weight") std = 2 / Math.sqrt(dim);
  else std = 1 / Math.sqrt(s.shape[0]);
  for (let i = 0; i < n; i++) out[i] = mean + std * rnd();
  return out;
}

/**
 * Gemma 3n tensors whose scale matters: attention scores are q·k of RMS-normed heads with no 1/√hd, so the
 * Q/K norm weights are hd^(−1/4) (scores of unit variance; with weights near 1 softmax becomes an argmax and
 * the model chaotic); the router sees rms_norm(x)/nEmbd, so its weights are large enough for the AltUp
 * mixing to matter, while the AltUp coefficients stay small as in a trained model.
 */
function gemma3nInit(s: TensorSpec): { mean: number; std: number } | undefined {
  if (/attn_[qk]_norm\.weight$/.test(s.name)) return { mean: s.shape[0] ** -0.25, std: 0.02 };
  if (s.name.endsWith("altup_correct_scale.weight")) return { mean: 1, std: 0.1 };
  if (s.name === "per_layer_token_embd.weight")
    return { mean: 0, std: 1 / Math.sqrt(GEMMA3N_LLAMA_CPP.perLayerDim) }; // ×√perLayerDim in the graph
  if (s.name.endsWith("altup_router.weight")) return { mean: 0, std: 4 };
  if (s.name.endsWith("_coef.weight")) return { mean: 0, std: 0.05 };
  return undefined;
}

/** Standard normal samples (Box–Muller) from a 32-bit generator (mulberry32) seeded by seed and a name. */
export function normalGenerator(seed: number, name: string): () => number {
  let h = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ Math.floor(seed / 2 ** 32), 0x85ebca6b) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  let state = h;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296; // in (0, 1): log() below stays finite
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const a = 2 * Math.PI * uniform();
    spare = r * Math.sin(a);
    return r * Math.cos(a);
  };
}

/** The tokenizer.* entries of a GGUF, copied out of the mapped file, and its token count. */
function readTokenizerMetadata(path: string): {
  metadata: Array<[string, GgufMetadataValue]>;
  nTokens: number;
} {
  const f = openGguf(path);
  try {
    const metadata: Array<[string, GgufMetadataValue]> = [];
    for (const [key, v] of f.metadata) if (key.startsWith("tokenizer.")) metadata.push([key, cloneValue(v)]);
    const tokens = f.get("tokenizer.ggml.tokens");
    if (!Array.isArray(tokens) || tokens.length === 0)
      throw new InputError(`${basename(path)} has no tokenizer (tokenizer.ggml.tokens)`, {
        file: path,
        field: "tokenizer.ggml.tokens",
      });
    return { metadata, nTokens: tokens.length };
  } finally {
    f.close();
  }
}

function cloneValue(v: GgufMetadataValue): GgufMetadataValue {
  if (v.type !== GgufValueType.ARRAY) return { ...v };
  return { type: GgufValueType.ARRAY, value: cloneArray(v.value) };
}

function cloneArray(a: GgufArray): GgufArray {
  if (a.elementType === GgufValueType.ARRAY)
    return { elementType: a.elementType, items: a.items.map(cloneArray) };
  return { ...a, items: a.items.slice() } as GgufArray;
}

/**
 * Extends the vocabulary to `vocab` entries with unused placeholder tokens "<unused_N>" (token type UNUSED,
 * lowest score): model shapes of real checkpoints (e.g. a 49152-token vocabulary) for benchmarks.
 */
function padVocab(
  meta: Array<[string, GgufMetadataValue]>,
  nTokens: number,
  vocab: number,
): Array<[string, GgufMetadataValue]> {
  if (!Number.isSafeInteger(vocab) || vocab > 1 << 20)
    throw new InputError(`vocab ${vocab} is too large`, { field: "vocab" });
  const extra = vocab - nTokens;
  return meta.map(([key, v]): [string, GgufMetadataValue] => {
    if (v.type !== GgufValueType.ARRAY || v.value.items.length !== nTokens) return [key, v];
    const a = v.value;
    if (a.elementType === GgufValueType.STRING)
      return [
        key,
        gguf.arr("str", [
          ...(a.items as string[]),
          ...Array.from({ length: extra }, (_, i) => `<unused_${nTokens + i}>`),
        ]),
      ];
    if (key === "tokenizer.ggml.scores")
      return [
        key,
        gguf.arr(
          "f32",
          Float32Array.from([...(a.items as Float32Array), ...new Array<number>(extra).fill(-1e9)]),
        ),
      ];
    if (key === "tokenizer.ggml.token_type")
      return [
        key,
        gguf.arr("i32", Int32Array.from([...(a.items as Int32Array), ...new Array<number>(extra).fill(5)])),
      ];
    return [key, v];
  });
}

/** Keeps the first `vocab` tokens (and the merges whose parts and result are among them). */
function truncateVocab(
  meta: Array<[string, GgufMetadataValue]>,
  nTokens: number,
  vocab: number,
  file: string,
): Array<[string, GgufMetadataValue]> {
  if (!Number.isSafeInteger(vocab) || vocab < 1 || vocab > nTokens)
    throw new InputError(`vocab ${vocab} must be between 1 and the tokenizer's ${nTokens} tokens`, {
      file,
      field: "vocab",
    });
  const tokens = meta.find(([key]) => key === "tokenizer.ggml.tokens")?.[1];
  const kept = new Set(
    tokens?.type === GgufValueType.ARRAY && tokens.value.elementType === GgufValueType.STRING
      ? tokens.value.items.slice(0, vocab)
      : [],
  );
  return meta.map(([key, v]): [string, GgufMetadataValue] => {
    if (/^tokenizer\.ggml\..*_token_id$/.test(key) && typeof v.value === "number" && v.value >= vocab)
      throw new InputError(`special token ${key} = ${v.value} is outside the first ${vocab} tokens`, {
        file,
        field: key,
      });
    if (v.type !== GgufValueType.ARRAY) return [key, v];
    const a = v.value;
    if (key === "tokenizer.ggml.merges" && a.elementType === GgufValueType.STRING) {
      const items = a.items.filter((m) => {
        const [l, r, extra] = m.split(" ");
        return extra === undefined && r !== undefined && kept.has(l) && kept.has(r) && kept.has(l + r);
      });
      return [key, { type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items } }];
    }
    if (a.items.length === nTokens && a.elementType !== GgufValueType.ARRAY)
      return [
        key,
        { type: GgufValueType.ARRAY, value: { ...a, items: a.items.slice(0, vocab) } as GgufArray },
      ];
    return [key, v];
  });
}
