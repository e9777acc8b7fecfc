// Learning-rate schedules as in transformers' get_scheduler: linear warmup, then constant, linear decay
// to 0, or cosine decay to 0.
export type SchedulerName = "constant" | "linear" | "cosine";

/** Learning rate at optimizer step `step` (0-based) of `total`. */
export function learningRate(
  o: { lr: number; scheduler: SchedulerName; warmupSteps: number; totalSteps: number },
  step: number,
): number {
  const { lr, scheduler, warmupSteps, totalSteps } = o;
  if (step < warmupSteps) return (lr * (step + 1)) / (warmupSteps + 1);
  if (scheduler === "constant") return lr;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  if (scheduler === "linear") return lr * (1 - progress);
  return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
