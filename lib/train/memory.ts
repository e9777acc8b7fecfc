// Memory needed by a training run, estimated before anything big is allocated, and checked against the
// device's free memory.
import os from "node:os";
import { InputError } from "../util/errors.js";
import { getBackend } from "../engine/backend.js";
import type { Model } from "../models/model.js";
import type { TrainConfig } from "./config.js";

export interface MemoryEstimate {
  weightsBytes: number;
  /** Trainable weights (LoRA A/B, DoRA magnitudes, or the model's tensors), gradients and the AdamW moments. */
  adapterBytes: number;
  /** Activations kept for the backward pass (estimate) incl. logits, labels and their gradients. */
  activationBytes: number;
  totalBytes: number;
  availableBytes: number;
}

export function estimateMemory(
  model: Model,
  cfg: Pick<TrainConfig, "batch" | "maxSeq"> & Partial<Pick<TrainConfig, "dora" | "optim">>,
  trainableParams: number,
): MemoryEstimate {
  const c = model.config;
  const n = cfg.batch * cfg.maxSeq;
  let perLayer = n * (12 * c.nEmbd + 3 * c.nHead * c.headDim + 4 * c.nFf) + 3 * c.nHead * cfg.maxSeq * n;
  // DoRA scales every adapted output by m/‖·‖: one more [out, tokens] activation and its gradient per
  // linear layer (counted for all seven, an upper bound)
  if (cfg.dora)
    perLayer += 2 * n * (c.nHead * c.headDim + 2 * c.nHeadKv * c.headDim + 2 * c.nEmbd + 2 * c.nFf);
  const activationBytes = 4 * (c.nLayer * perLayer + 4 * n * c.nVocab) * 1.5;
  // f32 weights and gradients, plus the two AdamW moments (f32, or q8_0's 34 bytes per 32 values)
  const adapterBytes = (cfg.optim === "adamw_8bit" ? 8 + (2 * 34) / 32 : 16) * trainableParams;
  const b = getBackend();
  const availableBytes = b.info.kind === "cpu" ? os.freemem() : b.info.memoryFreeBytes;
  return {
    weightsBytes: model.weights.bytes,
    adapterBytes,
    activationBytes,
    totalBytes: adapterBytes + activationBytes,
    availableBytes,
  };
}

/** Refuses a run that will not fit (weights are already loaded, so only the rest is compared). */
export function checkMemory(e: MemoryEstimate): void {
  if (e.totalBytes > e.availableBytes * 0.9) {
    const gb = (x: number) => (x / 2 ** 30).toFixed(2);
    throw new InputError(
      `the run needs about ${gb(e.totalBytes)} GiB beyond the weights (activations ${gb(e.activationBytes)}, adapter+optimizer ${gb(e.adapterBytes)}) ` +
        `but only ${gb(e.availableBytes)} GiB are free: lower batch or maxSeq`,
      { field: "batch" },
    );
  }
}
