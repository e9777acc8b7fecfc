// AdamW over persistent f32 parameters with ggml_opt_step_adamw, global gradient-norm clipping and per-step
// bias correction. Two small graphs of their own: one for the gradient norm, one for the update.
//
// 8-bit states (`eightBit`, bitsandbytes' idea): m and v are held as block-wise absmax 8-bit codes — ggml's
// q8_0, 32 values per block with an f16 scale, 1.0625 bytes a value instead of 4 — and the update graph
// dequantizes them, runs the same ggml AdamW step, and quantizes them back, one parameter after another so
// that only one parameter's f32 moments exist at a time. A linear 8-bit code is too coarse for v, whose
// values span many decades inside a block (a small v rounded to 0 turns m/√v into m/ε), so both moments are
// companded before quantization, a power-law map in the spirit of bitsandbytes' dynamic map: m is stored as
// sign(m)·√|m| and v as v^¼ (so √v, what the update divides by, keeps about half of v's relative error),
// both times 2¹² so that the f16 block scale stays a normal number for moments down to ~1e-12.
import { EngineError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { Context } from "./context.js";
import { Graph } from "./graph.js";
import type { GradientState } from "./autograd.js";
import { Ops } from "./ops.js";
import { ggml } from "./ffi.js";
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
  /** Hold m and v as companded block-wise 8-bit codes (see the file comment). Default false. */
  eightBit?: boolean;
}

/** Optimizer state for checkpoints. */
export interface AdamWState {
  /** Updates applied (t of bias correction). */
  step: number;
  /** "f32": m and v as f32 values; "q8": the 8-bit states' bytes (q8_0 blocks of companded values). */
  format: "f32" | "q8";
  /** Per parameter, in parameter order. */
  m: Uint8Array[];
  v: Uint8Array[];
}

/** Companding factor of the 8-bit states (2¹²). */
const COMPAND = 4096;

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
  private stepGraph: Graph;
  /** Number of updates applied (the t of bias correction). */
  step = 0;
  readonly options: Required<AdamWOptions>;

  constructor(
    readonly grads: GradientState,
    options: AdamWOptions = {},
  ) {
    this.options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, eightBit: false, ...options };
    const { beta1, beta2, eps, weightDecay } = this.options;
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
      throw new EngineError("AdamW betas must be in [0, 1)");
    if (!(eps >= 0) || !(weightDecay >= 0 && weightDecay <= 1))
      throw new EngineError("AdamW eps must be ≥ 0 and weight decay in [0, 1]");
    const params = grads.params;
    const eightBit = this.options.eightBit;
    this.state = new Context({ maxTensors: 2 * params.length + 2 });
    // 8-bit: one flat q8_0 code per moment, padded to whole blocks of 32 (the pad stays 0)
    const stateOf = (p: Tensor, what: string) =>
      eightBit
        ? this.state.tensor(
            GgmlType.Q8_0,
            [Math.ceil(p.nelements / 32) * 32],
            `adam ${what}8 ${p.name}`.slice(0, 60),
          )
        : this.state.f32(p.ne, `adam ${what} ${p.name}`.slice(0, 60));
    this.m = params.map((p) => stateOf(p, "m"));
    this.v = params.map((p) => stateOf(p, "v"));
    this.params7 = this.state.f32([7], "adamw params");
    this.clip = this.state.f32([1], "clip scale");
    this.state.allocate();
    for (const t of [...this.m, ...this.v]) t.fillBytes(0);

    const n = params.length;
    const size = (eightBit ? 48 : 4) * n + 16;
    this.compute = new Context({ maxTensors: 2 * size, graphSize: size });
    const ops = new Ops(this.compute);
    let total: Tensor | null = null;
    for (const acc of grads.accumulators) {
      const s = ops.sum(ops.sqr(acc));
      total = total ? ops.add(total, s) : s;
    }
    this.normOut = total!;
    this.normGraph = Graph.build(this.compute, [this.normOut], { size });
    if (!eightBit) {
      const steps = params.map((p, i) =>
        ops.adamwStep(p, ops.mul(grads.accumulators[i], this.clip), this.m[i], this.v[i], this.params7),
      );
      this.stepGraph = Graph.build(this.compute, steps, { size });
    } else {
      // Built node by node in execution order: the AdamW node updates the dequantized moments in place, and
      // the requantizing copies must run after it, which only their place in the graph guarantees (ggml's
      // CPU backend runs nodes in graph order; nothing else depends on the in-place write).
      this.stepGraph = Graph.build(this.compute, [], { size });
      const kappa = ((1 - beta2) * (1 - (beta1 * beta1) / beta2)) / (1 - beta1) ** 2;
      params.forEach((p, i) => {
        const m = ops.scale(
          ops.mul(ops.abs(ops.cast(this.m[i], GgmlType.F32)), ops.cast(this.m[i], GgmlType.F32)),
          1 / COMPAND ** 2,
        );
        const vDecoded = ops.scale(ops.sqr(ops.sqr(ops.cast(this.v[i], GgmlType.F32))), 1 / COMPAND ** 4);
        // Exact AdamW keeps m² ≤ v/κ (Cauchy–Schwarz on the two moving averages), so v = max(v, κ·m²)
        // changes no state exact AdamW can reach; it only repairs a v that rounding took below its m (the
        // one failure that matters: m/√v with v rounded to 0 is m/ε).
        const floor = ops.scale(ops.sqr(m), kappa);
        const v = ops.scale(ops.add(ops.add(vDecoded, floor), ops.abs(ops.sub(vDecoded, floor))), 0.5);
        const asParam = (t: Tensor) => ops.reshape(ops.view(t, [p.nelements], [0, 0, 0], 0), p.ne);
        const step = ops.adamwStep(
          p,
          ops.mul(grads.accumulators[i], this.clip),
          asParam(m),
          asParam(v),
          this.params7,
        );
        this.expandOutput(step);
        const mCode = ops.scale(ops.mul(ops.sgn(m), ops.sqrt(ops.abs(m))), COMPAND);
        const vCode = ops.scale(ops.sqrt(ops.sqrt(v)), COMPAND);
        this.expandOutput(ops.cpy(mCode, this.m[i]));
        this.expandOutput(ops.cpy(vCode, this.v[i]));
      });
    }
  }

  private expandOutput(t: Tensor): void {
    this.stepGraph.expand(t);
    ggml().ggml_set_output(t.ptr);
  }

  /** Bytes held by the optimizer's moments. */
  get stateBytes(): number {
    return [...this.m, ...this.v].reduce((s, t) => s + t.nbytes, 0);
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

  /** "f32" or "q8" (the 8-bit states). */
  get stateFormat(): AdamWState["format"] {
    return this.options.eightBit ? "q8" : "f32";
  }

  /** Optimizer state for checkpoints: step and the m, v moments' bytes (in parameter order). */
  exportState(): AdamWState {
    return {
      step: this.step,
      format: this.stateFormat,
      m: this.m.map((t) => t.bytes()),
      v: this.v.map((t) => t.bytes()),
    };
  }

  importState(s: AdamWState): void {
    if (s.format !== this.stateFormat)
      throw new EngineError(
        `the optimizer state is ${s.format === "q8" ? "8-bit" : "f32"}, this optimizer's is ${this.stateFormat === "q8" ? "8-bit" : "f32"}`,
      );
    if (s.m.length !== this.m.length || s.v.length !== this.v.length)
      throw new EngineError(`optimizer state holds ${s.m.length} tensors, expected ${this.m.length}`);
    [...s.m, ...s.v].forEach((d, i) => {
      const t = i < this.m.length ? this.m[i] : this.v[i - this.m.length];
      if (d.byteLength !== t.nbytes)
        throw new EngineError(
          `optimizer state tensor ${i} holds ${d.byteLength} bytes, expected ${t.nbytes}`,
        );
      t.set(d);
    });
    this.step = s.step;
  }

  free(): void {
    this.normGraph.free();
    this.stepGraph.free();
    this.compute.free();
    this.state.free();
  }
}
