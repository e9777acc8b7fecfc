// A small two-layer LoRA model for engine tests: x → (W1 + B1·A1) → silu → (W2 + B2·A2) → logits, masked
// cross-entropy. W1, W2 are frozen (any type, optionally with transposed copies); A, B are f32 parameters.
import {
  AdamW,
  Context,
  Graph,
  GradientState,
  Ops,
  buildBackward,
  markTrainable,
  type Tensor,
} from "../../lib/engine/index.js";
import { maskedCrossEntropy, MaskedLossLabels, type MaskedLoss } from "../../lib/engine/loss.js";
import { FrozenWeights, type ExtraBufferChoice, type FrozenWeight } from "../../lib/engine/weights.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { rng } from "./gradcheck.js";

export interface LoraProblem {
  D: number;
  H: number;
  V: number;
  T: number;
  rank: number;
  /** Frozen weights as f32, N rows of K. */
  w1: Float32Array;
  w2: Float32Array;
  /** Initial LoRA matrices A1 [D, r], B1 [r, H], A2 [H, r], B2 [r, V] (ggml order). */
  init: Float32Array[];
  x: Float32Array;
  targets: Int32Array;
  mask: Uint8Array;
}

export function gaussian(r: () => number): () => number {
  return () => {
    const u = (r() + 1) / 2 || 1e-12;
    const v = (r() + 1) / 2;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export function makeProblem(seed = 11): LoraProblem {
  const D = 256,
    H = 512,
    V = 256,
    T = 16,
    rank = 4;
  const g = gaussian(rng(seed));
  const arr = (n: number, s: number) => Float32Array.from({ length: n }, () => g() * s);
  return {
    D,
    H,
    V,
    T,
    rank,
    w1: arr(D * H, 1 / Math.sqrt(D)),
    w2: arr(H * V, 2 / Math.sqrt(H)),
    init: [
      arr(D * rank, 0.3 / Math.sqrt(D)),
      arr(rank * H, 0.3),
      arr(H * rank, 0.3 / Math.sqrt(H)),
      arr(rank * V, 0.3),
    ],
    x: arr(D * T, 1),
    targets: Int32Array.from({ length: T }, (_, t) => (t * 37 + 5) % V),
    mask: Uint8Array.from({ length: T }, (_, t) => (t % 5 === 4 ? 0 : 1)),
  };
}

export interface ModelVariant {
  /** Storage type of W1, W2. */
  type: number;
  /** Transposed copy type, or null (plain OUT_PROD backward). */
  transposed: number | null;
  extraBuffer?: ExtraBufferChoice;
  /** Passed to FrozenWeights.add (allows extra buffers without transposed copies). */
  forwardOnly?: boolean;
  /** Replace the frozen weights by these f32 values (the dequantized reference). */
  w1?: Float32Array;
  w2?: Float32Array;
}

export class LoraModel {
  readonly frozen: FrozenWeights;
  readonly w: FrozenWeight[];
  readonly params: Tensor[];
  private readonly pctx: Context;
  private readonly cctx: Context;
  private readonly x: Tensor;
  readonly loss: MaskedLoss;
  private readonly labels: MaskedLossLabels;
  readonly graph: Graph;
  readonly state: GradientState;
  readonly rewritten: number;
  private readonly nTargets: number;

  constructor(
    readonly p: LoraProblem,
    v: ModelVariant,
  ) {
    const { D, H, V, T, rank } = p;
    this.frozen = new FrozenWeights({
      maxWeights: 2,
      transposed: v.transposed,
      extraBuffer: v.extraBuffer ?? "auto",
    });
    this.w = [
      this.frozen.add({
        name: "w1",
        shape: [D, H],
        data: v.w1 ?? p.w1,
        type: v.type,
        forwardOnly: v.forwardOnly,
      }),
      this.frozen.add({
        name: "w2",
        shape: [H, V],
        data: v.w2 ?? p.w2,
        type: v.type,
        forwardOnly: v.forwardOnly,
      }),
    ];
    this.pctx = new Context({ maxTensors: 8 });
    this.params = [
      this.pctx.f32([D, rank], "a1"),
      this.pctx.f32([rank, H], "b1"),
      this.pctx.f32([H, rank], "a2"),
      this.pctx.f32([rank, V], "b2"),
    ];
    this.cctx = new Context({ maxTensors: 512, graphSize: 512, grads: true });
    const ops = new Ops(this.cctx);
    this.x = this.cctx.input(GgmlType.F32, [D, T], "x");
    const [a1, b1, a2, b2] = this.params;
    const lora = (w: Tensor, a: Tensor, b: Tensor, inp: Tensor) =>
      ops.add(ops.mulMat(w, inp), ops.scale(ops.mulMat(b, ops.mulMat(a, inp)), 2));
    const h = ops.silu(lora(this.w[0].tensor, a1, b1, this.x));
    const logits = lora(this.w[1].tensor, a2, b2, h);
    this.loss = maskedCrossEntropy(ops, this.pctx, logits);
    markTrainable(this.params, this.loss.loss);
    this.pctx.allocate();
    this.state = new GradientState(this.params);
    this.graph = Graph.build(this.cctx, [this.loss.loss], { grads: true });
    this.rewritten = buildBackward(
      this.graph,
      this.loss.loss,
      this.state,
      this.frozen.transposedMap,
    ).rewritten;
    this.params.forEach((t, i) => t.set(p.init[i]));
    this.labels = new MaskedLossLabels(this.loss.labels, V);
    this.nTargets = p.mask.reduce((s, m) => s + m, 0);
  }

  /** Writes the graph inputs (they may be overwritten during a compute) and runs forward + backward. */
  run(): number {
    this.graph.allocate();
    this.x.set(this.p.x);
    this.labels.write(this.loss, this.p.targets, this.p.mask, this.nTargets);
    this.state.zero();
    this.graph.compute();
    return this.loss.loss.scalar();
  }

  grads(): Float32Array[] {
    return this.state.accumulators.map((a) => a.f32());
  }

  /** AdamW training; returns the loss before each step. */
  train(steps: number, lr: number): number[] {
    const opt = new AdamW(this.state);
    const losses: number[] = [];
    try {
      for (let i = 0; i < steps; i++) {
        losses.push(this.run());
        opt.update(lr, 1);
      }
      losses.push(this.run());
    } finally {
      opt.free();
    }
    return losses;
  }

  setParams(values: Float32Array[]): void {
    this.params.forEach((t, i) => t.set(values[i]));
  }

  free(): void {
    this.graph.free();
    this.state.free();
    this.cctx.free();
    this.pctx.free();
    this.frozen.free();
  }
}

/** ‖a − b‖ / ‖b‖ over all arrays together. */
export function relError(a: Float32Array[], b: Float32Array[]): number {
  let d = 0,
    n = 0;
  a.forEach((x, i) =>
    x.forEach((v, j) => {
      d += (v - b[i][j]) ** 2;
      n += b[i][j] ** 2;
    }),
  );
  return Math.sqrt(d / n);
}
