// Gemma 3n hyperparameters, tensor names and metadata (llama.cpp src/models/gemma3n.cpp, src/llama-hparams.h,
// gguf-py constants and conversion/gemma.py Gemma3NModel). Several values are fixed in llama.cpp rather than
// read from the file; they are listed in GEMMA3N_LLAMA_CPP and used as the defaults here.
import { gguf, type GgufFile, type GgufMetadataValue } from "../../gguf/index.js";
import { InputError } from "../../util/errors.js";
import type { ModelConfig } from "../config.js";
import type { TensorSpec } from "../tensors.js";

/** The parts of a Gemma 3n text model the other decoders do not have. */
export interface Gemma3nConfig {
  /** Number of AltUp streams (`altup.num_inputs`). */
  nAltup: number;
  /** The stream attention and the FFN work on (`altup.active_idx`). */
  altupActive: number;
  /** Width of each layer's per-layer embedding (`embedding_length_per_layer_input`). */
  perLayerDim: number;
  /** Rank of the Laurel low-rank residual branch (from the shape of blk.0.laurel_l). */
  laurelRank: number;
  /**
   * Per layer: the gaussian top-k multiplier (normal icdf of the sparsity target, e.g. 1.645 for 0.95) applied
   * to the FFN gate, or null for a dense FFN.
   */
  sparsityStdMul: (number | null)[];
  /** Per layer: the layer whose keys and values it attends to (itself, or the last earlier KV layer of its kind). */
  kvSource: number[];
}

/** Values llama.cpp's gemma3n loader fixes instead of reading from the GGUF (llama-hparams.h, models.h). */
export const GEMMA3N_LLAMA_CPP = {
  nAltup: 4,
  altupActive: 0,
  perLayerDim: 256,
  laurelRank: 64,
  /** Layers 0..9 use activation sparsity with a 0.95 target. */
  sparseLayers: 10,
  sparsityStdMul: 1.6448533535003662,
  /** Layers from 20 on reuse the KV cache of layer 18 (local) or 19 (global). */
  kvFromStart: 20,
  swaPattern: 5,
  finalSoftcap: 30,
} as const;

/** Reads the Gemma 3n hyperparameters and the local/global layer pattern of a GGUF. */
export function readGemma3nConfig(
  f: GgufFile,
  nLayer: number,
): { gemma3n: Gemma3nConfig; swaLayers: boolean[]; finalSoftcap: number } {
  const k = (key: string) => `gemma3n.${key}`;
  const L = GEMMA3N_LLAMA_CPP;
  const bad = (field: string, why: string) => new InputError(why, { file: f.path, field: k(field) });

  const pattern = f.get(k("attention.sliding_window_pattern"));
  let swaLayers: boolean[];
  if (Array.isArray(pattern)) {
    if (pattern.length !== nLayer || pattern.some((v) => typeof v !== "boolean"))
      throw bad("attention.sliding_window_pattern", `expected ${nLayer} booleans (one per layer)`);
    swaLayers = pattern as boolean[];
  } else {
    const n = f.getNumber(k("attention.sliding_window_pattern"), L.swaPattern);
    swaLayers = swaPatternLayers(nLayer, n);
  }

  const scales = f.get(k("activation_sparsity_scale"));
  let sparsityStdMul: (number | null)[];
  if (scales !== undefined) {
    const list =
      ArrayBuffer.isView(scales) || Array.isArray(scales) ? Array.from(scales as ArrayLike<number>) : [];
    if (list.length !== nLayer || list.some((v) => typeof v !== "number"))
      throw bad("activation_sparsity_scale", `expected ${nLayer} numbers (one per layer)`);
    // the converter writes icdf(0) = −∞ for dense layers
    sparsityStdMul = list.map((v) => (Number.isFinite(v) ? v : null));
  } else sparsityStdMul = defaultSparsity(nLayer);

  const shared = f.getNumber(k("attention.shared_kv_layers"), Math.max(0, nLayer - L.kvFromStart));
  const laurel = f.tensor("blk.0.laurel_l.weight");
  const gemma3n: Gemma3nConfig = {
    nAltup: f.getNumber(k("altup.num_inputs"), L.nAltup),
    altupActive: f.getNumber(k("altup.active_idx"), L.altupActive),
    perLayerDim: f.getNumber(k("embedding_length_per_layer_input"), L.perLayerDim),
    laurelRank: laurel?.shape[1] ?? L.laurelRank,
    sparsityStdMul,
    kvSource: kvSources(nLayer - shared, swaLayers, f.path),
  };
  validateGemma3n(gemma3n, nLayer, f.path);
  return {
    gemma3n,
    swaLayers,
    finalSoftcap: f.getNumber(k("final_logit_softcapping"), L.finalSoftcap),
  };
}

/** llama.cpp's numeric pattern: within each group of n layers, all but the last are local. */
export function swaPatternLayers(nLayer: number, n: number): boolean[] {
  return Array.from({ length: nLayer }, (_, il) => n === 0 || il % n < n - 1);
}

/** llama.cpp's fixed sparsity: the first 10 layers at a 0.95 target. */
export function defaultSparsity(nLayer: number): (number | null)[] {
  const L = GEMMA3N_LLAMA_CPP;
  return Array.from({ length: nLayer }, (_, il) => (il < L.sparseLayers ? L.sparsityStdMul : null));
}

/**
 * Layers from `kvFromStart` on have no keys/values of their own: each attends to those of the last earlier
 * layer of the same kind (local/global), as llama.cpp's KV-cache reuse and Hugging Face's
 * num_kv_shared_layers do.
 */
export function kvSources(kvFromStart: number, swaLayers: boolean[], file?: string): number[] {
  return swaLayers.map((swa, il) => {
    if (il < kvFromStart) return il;
    for (let j = kvFromStart - 1; j >= 0; j--) if (swaLayers[j] === swa) return j;
    throw new InputError(
      `layer ${il} shares keys/values but no earlier ${swa ? "local" : "global"} layer has them`,
      {
        file,
        field: "gemma3n.attention.shared_kv_layers",
      },
    );
  });
}

function validateGemma3n(g: Gemma3nConfig, nLayer: number, file?: string): void {
  const bad = (field: string, why: string) => new InputError(why, { file, field: `gemma3n.${field}` });
  if (!Number.isSafeInteger(g.nAltup) || g.nAltup < 2 || g.nAltup > 16)
    throw bad("altup.num_inputs", `${g.nAltup} AltUp streams is not sensible (2..16)`);
  if (!Number.isSafeInteger(g.altupActive) || g.altupActive < 0 || g.altupActive >= g.nAltup)
    throw bad("altup.active_idx", `active stream ${g.altupActive} is not one of the ${g.nAltup}`);
  for (const [field, v] of [
    ["embedding_length_per_layer_input", g.perLayerDim],
    ["laurel rank", g.laurelRank],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 1 || v > 1 << 16)
      throw bad(field, `${field} = ${v} is not a sensible size`);
  if (g.kvSource[0] !== 0 || g.kvSource.length !== nLayer)
    throw bad("attention.shared_kv_layers", "the first layer must have its own keys and values");
}

/** Tensor names and shapes (llama.cpp llama_model_gemma3n::load_arch_tensors). */
export function gemma3nTensorSpecs(c: ModelConfig): TensorSpec[] {
  const g = c.gemma3n!;
  const { nEmbd: E, nLayer: L } = c;
  const A = g.nAltup;
  const P = g.perLayerDim;
  const qDim = c.nHead * c.headDim;
  const kvDim = c.nHeadKv * c.headDim;
  const specs: TensorSpec[] = [
    { name: "token_embd.weight", shape: [E, c.nVocab], kind: "embedding" },
    { name: "output_norm.weight", shape: [E], kind: "vector" },
    { name: "output.weight", shape: [E, c.nVocab], optional: true, kind: "matrix" },
    { name: "altup_proj.weight", shape: [E, E, A - 1], kind: "small" },
    { name: "altup_unembd_proj.weight", shape: [E, E, A - 1], kind: "small" },
    { name: "per_layer_token_embd.weight", shape: [P * L, c.nVocab], kind: "embedding" },
    { name: "per_layer_model_proj.weight", shape: [E, P * L], kind: "matrix" },
    { name: "per_layer_proj_norm.weight", shape: [P], kind: "vector" },
  ];
  for (let i = 0; i < L; i++) {
    const b = `blk.${i}`;
    specs.push(
      { name: `${b}.attn_norm.weight`, shape: [E], kind: "vector" },
      { name: `${b}.attn_q.weight`, shape: [E, qDim], kind: "matrix" },
      { name: `${b}.attn_k.weight`, shape: [E, kvDim], kind: "matrix" },
      { name: `${b}.attn_v.weight`, shape: [E, kvDim], kind: "matrix" },
      { name: `${b}.attn_output.weight`, shape: [qDim, E], kind: "matrix" },
      { name: `${b}.attn_q_norm.weight`, shape: [c.headDim], kind: "vector" },
      { name: `${b}.attn_k_norm.weight`, shape: [c.headDim], kind: "vector" },
      { name: `${b}.post_attention_norm.weight`, shape: [E], kind: "vector" },
      { name: `${b}.ffn_norm.weight`, shape: [E], kind: "vector" },
      { name: `${b}.ffn_gate.weight`, shape: [E, c.nFf], kind: "matrix" },
      { name: `${b}.ffn_up.weight`, shape: [E, c.nFf], kind: "matrix" },
      { name: `${b}.ffn_down.weight`, shape: [c.nFf, E], kind: "matrix" },
      { name: `${b}.post_ffw_norm.weight`, shape: [E], kind: "vector" },
      { name: `${b}.inp_gate.weight`, shape: [E, P], kind: "matrix" },
      { name: `${b}.proj.weight`, shape: [P, E], kind: "matrix" },
      { name: `${b}.post_norm.weight`, shape: [E], kind: "vector" },
      { name: `${b}.altup_correct_coef.weight`, shape: [A, A], kind: "small" },
      { name: `${b}.altup_correct_scale.weight`, shape: [E], kind: "vector" },
      { name: `${b}.altup_predict_coef.weight`, shape: [A, A * A], kind: "small" },
      { name: `${b}.altup_router.weight`, shape: [E, A], kind: "small" },
      { name: `${b}.altup_router_norm.weight`, shape: [E], kind: "vector" },
      { name: `${b}.laurel_l.weight`, shape: [E, g.laurelRank], kind: "matrix" },
      { name: `${b}.laurel_r.weight`, shape: [g.laurelRank, E], kind: "matrix" },
      { name: `${b}.laurel_post_norm.weight`, shape: [E], kind: "vector" },
    );
  }
  return specs;
}

/** gemma3n.* metadata beyond the common keys, as conversion/gemma.py Gemma3NModel writes it. */
export function gemma3nMetadata(c: ModelConfig): Array<[string, GgufMetadataValue]> {
  const g = c.gemma3n!;
  const k = (key: string) => `gemma3n.${key}`;
  const firstShared = g.kvSource.findIndex((s, il) => s !== il);
  return [
    [k("attention.sliding_window"), gguf.u32(c.slidingWindow)],
    [k("attention.sliding_window_pattern"), gguf.arr("bool", c.swaLayers)],
    [k("rope.freq_base_swa"), gguf.f32(c.ropeBaseSwa)],
    [k("final_logit_softcapping"), gguf.f32(c.finalSoftcap)],
    [k("altup.active_idx"), gguf.u32(g.altupActive)],
    [k("altup.num_inputs"), gguf.u32(g.nAltup)],
    [k("embedding_length_per_layer_input"), gguf.u32(g.perLayerDim)],
    [k("attention.shared_kv_layers"), gguf.u32(firstShared < 0 ? 0 : c.nLayer - firstShared)],
    [
      k("activation_sparsity_scale"),
      gguf.arr(
        "f32",
        Float32Array.from(g.sparsityStdMul, (v) => v ?? -Infinity),
      ),
    ],
  ];
}

/** Gemma 3n hyperparameters of a new model, with llama.cpp's fixed values (the only ones it loads). */
export function newGemma3nConfig(nLayer: number, swaLayers: boolean[]): Gemma3nConfig {
  const L = GEMMA3N_LLAMA_CPP;
  return {
    nAltup: L.nAltup,
    altupActive: L.altupActive,
    perLayerDim: L.perLayerDim,
    laurelRank: L.laurelRank,
    sparsityStdMul: defaultSparsity(nLayer),
    kvSource: kvSources(Math.min(nLayer, L.kvFromStart), swaLayers),
  };
}
