// AdamW over persistent f32 parameters with ggml_opt_step_adamw, global gradient-norm clipping and per-step
// bias correction. Two small graphs of their own: one for the gradient norm, one for the update.
import { EngineError } from "../util/errors.js";
import { Context } from "./context.js";
import { Graph } from "./graph.js";
import type { GradientState } from "./autograd.js";
import { Ops } from "./ops.js";
import type { Tensor } from "./tensor.js";

export interface AdamWOptions {
  /** β1, first-moment decay. Default 0.9. */
  beta1?: number;
  /** β2, second-moment decay. Default 0.999. */
  beta2?: number;
  /** ε added to the denominator. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (multiplied by the learning rate, as PyTorch's AdamW). Default 0. */
  weightDecay?: number;
}

export interface StepResult {
  /** Global L2 norm of the accumulated gradient before clipping. */
  gradNorm: number;
  /** Factor the gradient was scaled by (1 when not clipped). */
  clipScale: number;
}

export class AdamW {
  private readonly state: Context;
  private readonly compute: Context;
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  private readonly params7: Tensor;
  private readonly clip: Tensor;
  private readonly normGraph: Graph;
  private readonly normOut: Tensor;
  private readonly stepGraph: Graph;
  /** Number of updates applied (the t of bias correction). */
  step = 0;
  readonly options: Required<AdamWOptions>;

  constructor(
    readonly grads: GradientState,
    options: AdamWOptions = {},
  ) {
    this.options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, ...options };
    const { beta1, beta2, eps, weightDecay } = this.options;
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
      throw new EngineError("AdamW betas must be in [0, 1)");
    if (!(eps >= 0) || !(weightDecay >= 0 && weightDecay <= 1))
      throw new EngineError("AdamW eps must be ≥ 0 and weight decay in [0, 1]");
    const params = grads.params;
    this.state = new Context({ maxTensors: 2 * params.length + 2 });
    this.m = params.map((p) => this.state.f32(p.ne, `adam m ${p.name}`.slice(0, 60)));
    this.v = params.map((p) => this.state.f32(p.ne, `adam v ${p.name}`.slice(0, 60)));
    this.params7 = this.state.f32([7], "adamw params");
    this.clip = this.state.f32([1], "clip scale");
    this.state.allocate();
    for (const t of [...this.m, ...this.v]) t.fillBytes(0);

    const n = params.length;
    this.compute = new Context({ maxTensors: 8 * n + 16, graphSize: 4 * n + 16 });
    const ops = new Ops(this.compute);
    let total: Tensor | null = null;
    for (const acc of grads.accumulators) {
      const s = ops.sum(ops.sqr(acc));
      total = total ? ops.add(total, s) : s;
    }
    this.normOut = total!;
    this.normGraph = Graph.build(this.compute, [this.normOut], { size: 4 * n + 16 });
    const steps = params.map((p, i) =>
      ops.adamwStep(p, ops.mul(grads.accumulators[i], this.clip), this.m[i], this.v[i], this.params7),
    );
    this.stepGraph = Graph.build(this.compute, steps, { size: 4 * n + 16 });
  }

  /** Global L2 norm of the accumulated gradients. */
  gradNorm(): number {
    this.normGraph.compute();
    return Math.sqrt(this.normOut.scalar());
  }

  /**
   * Applies one update with learning rate `lr` to the accumulated gradients, clipping their global norm to
   * `maxGradNorm` (0 or Infinity: no clipping). Does not zero the gradients.
   */
  update(lr: number, maxGradNorm = 0): StepResult {
    if (!(lr >= 0) || !Number.isFinite(lr))
      throw new EngineError(`learning rate must be finite and ≥ 0, got ${lr}`);
    const gradNorm = this.gradNorm();
    if (!Number.isFinite(gradNorm)) throw new EngineError(`gradient norm is ${gradNorm}: training diverged`);
    const clipScale = maxGradNorm > 0 && gradNorm > maxGradNorm ? maxGradNorm / (gradNorm + 1e-6) : 1;
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const p = [
      lr,
      beta1,
      beta2,
      eps,
      weightDecay,
      1 / (1 - beta1 ** this.step),
      1 / (1 - beta2 ** this.step),
    ];
    this.params7.set(new Float32Array(p));
    this.clip.set(new Float32Array([clipScale]));
    this.stepGraph.compute();
    return { gradNorm, clipScale };
  }

  /** Optimizer state for checkpoints: step and the m, v moments (in parameter order). */
  exportState(): { step: number; m: Float32Array[]; v: Float32Array[] } {
    return { step: this.step, m: this.m.map((t) => t.f32()), v: this.v.map((t) => t.f32()) };
  }

  importState(s: { step: number; m: Float32Array[]; v: Float32Array[] }): void {
    if (s.m.length !== this.m.length || s.v.length !== this.v.length)
      throw new EngineError(`optimizer state holds ${s.m.length} tensors, expected ${this.m.length}`);
    s.m.forEach((d, i) => this.m[i].set(d));
    s.v.forEach((d, i) => this.v[i].set(d));
    this.step = s.step;
  }

  free(): void {
    this.normGraph.free();
    this.stepGraph.free();
    this.compute.free();
    this.state.free();
  }
}
