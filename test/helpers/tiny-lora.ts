// Writes a small LoRA adapter GGUF (llama.cpp's layout: general.type = adapter, adapter.type = lora,
// <tensor>.lora_a with ne [n_in, r], <tensor>.lora_b with ne [r, n_out], f32) for the tiny random Llama in
// ../shared, so tests can load base + adapter in node-llama-cpp without a trained adapter.
import { gguf, writeGguf } from "../../lib/gguf/index.js";

/** Options of {@link writeTinyLoraAdapter}. */
export interface TinyLoraOptions {
  /** LoRA rank. Default 2. */
  rank?: number;
  /** adapter.lora.alpha. Default 4. */
  alpha?: number;
  /** Seed of the deterministic weights. Default 1. */
  seed?: number;
  /** Size of the weights (uniform in ±magnitude). Default 0.5. */
  magnitude?: number;
}

/** [name, n_in, n_out] of the tiny model's adapted weights. */
const TARGETS: Array<[string, number, number]> = [
  ["blk.0.attn_q.weight", 8, 8],
  ["blk.0.ffn_up.weight", 8, 32],
  ["output.weight", 8, 32000],
];

function uniform(n: number, seed: number, magnitude: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 0xffffffff - 0.5) * 2 * magnitude;
  }
  return out;
}

/** Writes the adapter to `path` (GGUF, f32 tensors). */
export async function writeTinyLoraAdapter(path: string, o: TinyLoraOptions = {}): Promise<void> {
  const r = o.rank ?? 2;
  const mag = o.magnitude ?? 0.5;
  const tensors = TARGETS.flatMap(([name, nIn, nOut], k) => [
    {
      name: `${name}.lora_a`,
      type: 0,
      shape: [nIn, r],
      data: new Uint8Array(uniform(nIn * r, (o.seed ?? 1) * 101 + k, mag).buffer),
    },
    {
      name: `${name}.lora_b`,
      type: 0,
      shape: [r, nOut],
      data: new Uint8Array(uniform(r * nOut, (o.seed ?? 1) * 211 + k, mag).buffer),
    },
  ]);
  await writeGguf(path, {
    metadata: {
      "general.architecture": gguf.str("llama"),
      "general.type": gguf.str("adapter"),
      "general.name": gguf.str("tiny test adapter"),
      "adapter.type": gguf.str("lora"),
      "adapter.lora.alpha": gguf.f32(o.alpha ?? 4),
    },
    tensors,
  });
}
