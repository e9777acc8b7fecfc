/** Largest |log_softmax(a) − log_softmax(b)| over every position and token (float64 arithmetic). */
export function maxLogSoftmaxDelta(a: Float32Array[], b: Float32Array[]): number {
  if (a.length !== b.length) throw new Error(`${a.length} vs ${b.length} positions`);
  let worst = 0;
  for (let t = 0; t < a.length; t++) {
    const x = logSoftmax(a[t]);
    const y = logSoftmax(b[t]);
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  }
  return worst;
}

export function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = Math.log(sum) + max;
  return Float64Array.from(row, (v) => v - lse);
}
