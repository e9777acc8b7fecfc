// Training-step speed on random tokens (no data loading): `tunekit bench train` and the estimator.
import type { TrainConfig } from "./config.js";
import { getBackend } from "../engine/backend.js";
import { profileGraph, type GraphProfile } from "../engine/profile.js";
import { GradientState } from "../engine/autograd.js";
import { AdamW } from "../engine/optimizer.js";
import { SeededRandom } from "../data/random.js";
import type { PackedRow } from "../data/tokenize.js";
import { Model } from "../models/model.js";
import { LoraAdapter } from "../lora/adapter.js";
import { InputError } from "../util/errors.js";
import { StepGraph } from "./step-graph.js";
import { frozenOptionsFor } from "./trainer.js";

/** Median milliseconds of a full LoRA step (forward, backward, AdamW) after one warm-up step. */
export function measureSteps(
  model: Model,
  adapter: LoraAdapter,
  o: {
    batch: number;
    seq: number;
    steps: number;
    /** After the timed steps, run one more step node by node and report where the time goes. */
    profile?: boolean;
  },
): { msPerStep: number; profile?: GraphProfile } {
  const grads = new GradientState(adapter.params());
  const graph = new StepGraph(model, {
    batch: o.batch,
    seqLen: o.seq,
    grads,
    linear: (d) => adapter.linear(d),
  });
  const adam = new AdamW(grads);
  try {
    const rng = new SeededRandom(1);
    const rows: PackedRow[] = Array.from({ length: o.batch }, () => ({
      ids: Array.from({ length: o.seq }, () => rng.int(model.config.nVocab)),
      mask: Array.from({ length: o.seq }, () => 1 as const),
      segments: Array.from({ length: o.seq }, () => 1),
      positions: Array.from({ length: o.seq }, (_, i) => i),
    }));
    const times: number[] = [];
    for (let s = 0; s <= o.steps; s++) {
      const t0 = performance.now();
      grads.zero();
      graph.run(rows, o.batch * (o.seq - 1), s);
      adam.update(1e-4, 1);
      if (s > 0) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    let profile: GraphProfile | undefined;
    if (o.profile) {
      grads.zero();
      graph.run(rows, o.batch * (o.seq - 1), 0, (g) => (profile = profileGraph(g, { top: 30 })));
    }
    return { msPerStep: times[Math.floor(times.length / 2)], profile };
  } finally {
    adam.free();
    graph.free();
    grads.free();
  }
}

export interface BenchTrainOptions {
  model: string;
  seq: number;
  batch: number;
  loraR: number;
  quantizeBase: "none" | "q8_0" | "q4_k";
  /** Transposed-copy type for the backward (TrainConfig.backwardCopy). Default "auto". */
  backwardCopy?: TrainConfig["backwardCopy"];
  threads: number;
  steps: number;
  /** Add a per-op time breakdown of one step (see profileGraph). */
  profile?: boolean;
}

export async function benchTrain(o: BenchTrainOptions) {
  if (o.threads > 0) getBackend().setThreads(o.threads);
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new InputError("--steps must be ≥ 1");
  const model = Model.load(o.model, frozenOptionsFor(o.quantizeBase, o.backwardCopy));
  try {
    const adapter = LoraAdapter.create(model, { r: o.loraR, alpha: 2 * o.loraR, targets: "all-linear" });
    try {
      const { msPerStep, profile } = measureSteps(model, adapter, {
        batch: o.batch,
        seq: o.seq,
        steps: o.steps,
        profile: o.profile,
      });
      const tokens = o.batch * o.seq;
      return {
        tokens_per_s: tokens / (msPerStep / 1000),
        ms_per_step: msPerStep,
        tokens_per_step: tokens,
        threads: getBackend().threads,
        quantize_base: o.quantizeBase,
        backward_copy: o.backwardCopy ?? "auto",
        ...(profile ? { profile } : {}),
      };
    } finally {
      adapter.free();
    }
  } finally {
    model.dispose();
  }
}
