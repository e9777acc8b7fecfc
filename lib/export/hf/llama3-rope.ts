// Llama 3.1/3.2 rope scaling: llama.cpp's converter turns config.json's rope_scaling {rope_type "llama3",
// factor, low_freq_factor, high_freq_factor, original_max_position_embeddings} into a rope_freqs.weight
// tensor of per-dimension factors (conversion/llama.py generate_extra_tensors). The export goes back by
// finding the parameters that reproduce the stored factors (f32 rounding aside) among the values Llama 3.x
// checkpoints use; nothing is guessed when none does.

/** config.json's rope_scaling of a Llama 3.x model. */
export interface Llama3RopeScaling {
  rope_type: "llama3";
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}

/** The factors llama.cpp's converter computes for `p` (one per rotated pair of a head of `dim`). */
export function llama3RopeFactors(p: Llama3RopeScaling, base: number, dim: number): Float32Array {
  const lowWavelen = p.original_max_position_embeddings / p.low_freq_factor;
  const highWavelen = p.original_max_position_embeddings / p.high_freq_factor;
  return Float32Array.from({ length: dim / 2 }, (_, i) => {
    const freq = 1 / base ** ((2 * i) / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return p.factor;
    const smooth =
      (p.original_max_position_embeddings / wavelen - p.low_freq_factor) /
      (p.high_freq_factor - p.low_freq_factor);
    return 1 / ((1 - smooth) / p.factor + smooth);
  });
}

/** The rope_scaling that gives `factors` (relative error ≤ 1e-5), or undefined. */
export function llama3RopeScalingOf(
  factors: Float32Array,
  base: number,
  dim: number,
): Llama3RopeScaling | undefined {
  const max = factors.reduce((a, b) => Math.max(a, b), 1);
  for (const factor of [...new Set([max, 8, 16, 32, 64])])
    for (const low of [1, 2])
      for (const high of [4, 8])
        for (const orig of [8192, 4096, 16384, 32768, 131072]) {
          const p: Llama3RopeScaling = {
            rope_type: "llama3",
            factor: Number(factor.toPrecision(7)),
            low_freq_factor: low,
            high_freq_factor: high,
            original_max_position_embeddings: orig,
          };
          const want = llama3RopeFactors(p, base, dim);
          if (
            want.length === factors.length &&
            want.every((w, i) => Math.abs(w - factors[i]) <= 1e-5 * Math.abs(w))
          )
            return p;
        }
  return undefined;
}
