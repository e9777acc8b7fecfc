// A LoRA adapter GGUF with seeded random A and B (llama.cpp's layout: <name>.lora_a ne [n_in, r],
// <name>.lora_b ne [r, n_out], f32) for any model, so export tests can merge an adapter without training.
import { gguf, writeGguf } from "../../lib/gguf/index.js";

/** Options of {@link writeRandomLoraAdapter}. */
export interface RandomLoraOptions {
  /** general.architecture of the base. Default llama. */
  arch?: string;
  /** [GGUF weight name, n_in, n_out] of each adapted matrix. */
  targets: Array<[string, number, number]>;
  /** Rank. Default 4. */
  rank?: number;
  /** adapter.lora.alpha. Default 8. */
  alpha?: number;
  /** Half-width of the uniform weights. Default 0.15. */
  magnitude?: number;
  /** Seed. Default 12345. */
  seed?: number;
}

export async function writeRandomLoraAdapter(path: string, o: RandomLoraOptions): Promise<void> {
  let s = o.seed ?? 12345;
  const m = o.magnitude ?? 0.15;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * m;
  };
  const r = o.rank ?? 4;
  const f32 = (n: number) => new Uint8Array(Float32Array.from({ length: n }, rand).buffer);
  await writeGguf(path, {
    metadata: {
      "general.architecture": gguf.str(o.arch ?? "llama"),
      "general.type": gguf.str("adapter"),
      "adapter.type": gguf.str("lora"),
      "adapter.lora.alpha": gguf.f32(o.alpha ?? 8),
    },
    tensors: o.targets.flatMap(([name, nIn, nOut]) => [
      { name: `${name}.lora_a`, type: 0, shape: [nIn, r], data: f32(nIn * r) },
      { name: `${name}.lora_b`, type: 0, shape: [r, nOut], data: f32(r * nOut) },
    ]),
  });
}

/** Adapted matrices of stories260K (dim 64, 4 KV heads of 8, FFN 172). */
export const STORIES_TARGETS: Array<[string, number, number]> = [
  ["blk.0.attn_q.weight", 64, 64],
  ["blk.1.attn_k.weight", 64, 32],
  ["blk.2.attn_v.weight", 64, 32],
  ["blk.3.ffn_down.weight", 172, 64],
];
