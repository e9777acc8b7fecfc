// How long and how much memory a run takes on this machine: a few real steps on the configured shapes,
// extrapolated to the whole run — the table the Amazon-titles project wrote by hand.
import { resolveTrainConfig, type TrainConfig } from "./config.js";
import { loadTrainRows } from "./data.js";
import { Model } from "../models/model.js";
import { LoraAdapter } from "../lora/adapter.js";
import { estimateMemory, type MemoryEstimate } from "./memory.js";
import { measureSteps } from "./bench.js";

export interface RunEstimate {
  trainRows: number;
  epochs: number;
  totalSteps: number;
  tokensPerStep: number;
  secondsPerStep: number;
  tokensPerSecond: number;
  totalSeconds: number;
  memory: MemoryEstimate;
}

export async function estimateRun(cfg: TrainConfig, measured = 2): Promise<RunEstimate> {
  const model = Model.load(cfg.model);
  try {
    const rows = await loadTrainRows(cfg.data, model, {
      maxSeq: cfg.maxSeq,
      packing: cfg.packing,
      trainOn: cfg.trainOn,
    });
    const adapter = LoraAdapter.create(
      model,
      { r: cfg.loraR, alpha: cfg.loraAlpha, targets: cfg.target, dora: cfg.dora },
      cfg.seed,
    );
    const memory = estimateMemory(model, cfg, adapter.parameterCount);
    const { msPerStep } = measureSteps(model, adapter, {
      batch: cfg.batch,
      seq: cfg.maxSeq,
      steps: measured,
    });
    adapter.free();
    const mbPerEpoch = Math.ceil(rows.rows.length / cfg.batch);
    const totalSteps = cfg.maxSteps > 0 ? cfg.maxSteps : cfg.epochs * Math.ceil(mbPerEpoch / cfg.gradAccum);
    const secondsPerStep = (msPerStep / 1000) * cfg.gradAccum;
    const tokensPerStep = cfg.batch * cfg.maxSeq * cfg.gradAccum;
    return {
      trainRows: rows.rows.length,
      epochs: cfg.epochs,
      totalSteps,
      tokensPerStep,
      secondsPerStep,
      tokensPerSecond: tokensPerStep / secondsPerStep,
      totalSeconds: secondsPerStep * totalSteps,
      memory,
    };
  } finally {
    model.dispose();
  }
}

export { resolveTrainConfig };
