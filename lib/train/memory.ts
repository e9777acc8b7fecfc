// Memory needed by a training run, estimated before anything big is allocated, and checked against the
// device's free memory.
import os from "node:os";
import { InputError } from "../util/errors.js";
import { getBackend } from "../engine/backend.js";
import type { Model } from "../models/model.js";
import type { TrainConfig } from "./config.js";

export interface MemoryEstimate {
  weightsBytes: number;
  /** LoRA weights, gradients and the two AdamW moments (f32). */
  adapterBytes: number;
  /** Activations kept for the backward pass (estimate) incl. logits, labels and their gradients. */
  activationBytes: number;
  totalBytes: number;
  availableBytes: number;
}

export function estimateMemory(
  model: Model,
  cfg: Pick<TrainConfig, "batch" | "maxSeq">,
  trainableParams: number,
): MemoryEstimate {
  const c = model.config;
  const n = cfg.batch * cfg.maxSeq;
  const perLayer = n * (12 * c.nEmbd + 3 * c.nHead * c.headDim + 4 * c.nFf) + 3 * c.nHead * cfg.maxSeq * n;
  const activationBytes = 4 * (c.nLayer * perLayer + 4 * n * c.nVocab) * 1.5;
  const adapterBytes = 16 * trainableParams;
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
