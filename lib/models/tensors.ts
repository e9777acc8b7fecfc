// The GGUF tensor names and shapes each architecture needs (llama.cpp src/llama-arch.cpp names; shapes in
// ggml order as llama.cpp's loaders create them). Checked before anything reaches ggml.
import type { ModelConfig } from "./config.js";
import { gemma3nTensorSpecs } from "./arch/gemma3n-config.js";

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Optional tensors may be absent (tied output, rope frequency factors). */
  optional?: boolean;
  /**
   * Norm weights and biases stay f32; matrices may be quantized (and get transposed copies for training);
   * embeddings are read by row; "small" tensors (Gemma 3n AltUp coefficients, routers, stacked projections)
   * are kept as stored and written in f32 — they are tiny and numerically fragile.
   */
  kind: "matrix" | "vector" | "embedding" | "small";
}

/** Names of a block's linear layers (the LoRA targets), as "blk.N.<name>". */
export const LINEAR_NAMES = [
  "attn_q",
  "attn_k",
  "attn_v",
  "attn_output",
  "ffn_gate",
  "ffn_up",
  "ffn_down",
] as const;
export type LinearName = (typeof LINEAR_NAMES)[number];

export function tensorSpecs(c: ModelConfig): TensorSpec[] {
  if (c.arch === "gemma3n") return gemma3nTensorSpecs(c);
  const qDim = c.nHead * c.headDim;
  const kvDim = c.nHeadKv * c.headDim;
  const specs: TensorSpec[] = [
    { name: "token_embd.weight", shape: [c.nEmbd, c.nVocab], kind: "embedding" },
    { name: "output_norm.weight", shape: [c.nEmbd], kind: "vector" },
    { name: "output.weight", shape: [c.nEmbd, c.nVocab], optional: true, kind: "matrix" },
    { name: "rope_freqs.weight", shape: [c.nRot / 2], optional: true, kind: "vector" },
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}`;
    specs.push(
      { name: `${b}.attn_norm.weight`, shape: [c.nEmbd], kind: "vector" },
      { name: `${b}.attn_q.weight`, shape: [c.nEmbd, qDim], kind: "matrix" },
      { name: `${b}.attn_k.weight`, shape: [c.nEmbd, kvDim], kind: "matrix" },
      { name: `${b}.attn_v.weight`, shape: [c.nEmbd, kvDim], kind: "matrix" },
      { name: `${b}.attn_output.weight`, shape: [qDim, c.nEmbd], kind: "matrix" },
      { name: `${b}.ffn_norm.weight`, shape: [c.nEmbd], kind: "vector" },
      { name: `${b}.ffn_gate.weight`, shape: [c.nEmbd, c.nFf], kind: "matrix" },
      { name: `${b}.ffn_up.weight`, shape: [c.nEmbd, c.nFf], kind: "matrix" },
      { name: `${b}.ffn_down.weight`, shape: [c.nFf, c.nEmbd], kind: "matrix" },
    );
    if (c.arch === "qwen2")
      specs.push(
        { name: `${b}.attn_q.bias`, shape: [qDim], kind: "vector" },
        { name: `${b}.attn_k.bias`, shape: [kvDim], kind: "vector" },
        { name: `${b}.attn_v.bias`, shape: [kvDim], kind: "vector" },
      );
    if (c.qkNorm)
      specs.push(
        { name: `${b}.attn_q_norm.weight`, shape: [c.headDim], kind: "vector" },
        { name: `${b}.attn_k_norm.weight`, shape: [c.headDim], kind: "vector" },
      );
    if (c.postNorms)
      specs.push(
        { name: `${b}.post_attention_norm.weight`, shape: [c.nEmbd], kind: "vector" },
        { name: `${b}.post_ffw_norm.weight`, shape: [c.nEmbd], kind: "vector" },
      );
  }
  return specs;
}
