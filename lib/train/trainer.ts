// The training loop, top to bottom: load, build the step graphs once, then for every optimizer step run
// gradAccum micro-batches (loss normalised over the window's target tokens), clip, AdamW, log, evaluate,
// checkpoint. Deterministic for a given seed, so a resumed run continues exactly.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../util/errors.js";
import { writeFileAtomic } from "../util/atomic.js";
import { getBackend } from "../engine/backend.js";
import { GradientState } from "../engine/autograd.js";
import { AdamW } from "../engine/optimizer.js";
import { SeededRandom } from "../data/random.js";
import { Model } from "../models/model.js";
import type { ModelLoadOptions } from "../models/weights.js";
import type { TransposedChoice } from "../engine/weights.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { LoraAdapter } from "../lora/adapter.js";
import type { TrainConfig } from "./config.js";
import { countTargets, loadTrainRows, type TrainRows } from "./data.js";
import { learningRate } from "./schedule.js";
import { StepGraph } from "./step-graph.js";
import {
  listCheckpoints,
  loadCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
  type TrainState,
} from "./checkpoint.js";
import { checkMemory, estimateMemory } from "./memory.js";
import { fullTrainable, loraTrainable } from "./trainable.js";
import { emptyTrainable, openMultimodal } from "../multimodal/train.js";

/** The frozen base as training holds it: matrices in the QLoRA type (or as in the file), fast-backward copies. */
export function frozenOptionsFor(
  quantizeBase: TrainConfig["quantizeBase"],
  backwardCopy: TrainConfig["backwardCopy"] = "auto",
): ModelLoadOptions {
  const type = { none: undefined, q8_0: GgmlType.Q8_0, q4_k: GgmlType.Q4_K, q4_0: GgmlType.Q4_0 }[
    quantizeBase
  ];
  const transposed = { auto: "auto", f16: GgmlType.F16, bf16: GgmlType.BF16, f32: GgmlType.F32 }[
    backwardCopy
  ] as TransposedChoice;
  return { frozen: { quantize: type, transposed } };
}

export interface TrainLogRow {
  type: "train";
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  elapsed_s: number;
}
export interface EvalLogRow {
  type: "eval";
  step: number;
  eval_loss: number;
  eval_ppl: number;
  eval_tokens: number;
}

export interface TrainEvents {
  onStart?(info: {
    totalSteps: number;
    trainRows: number;
    evalRows: number;
    parameters: number;
    resumedAt: number;
  }): void;
  onLog?(row: TrainLogRow): void;
  onEval?(row: EvalLogRow): void;
  onCheckpoint?(dir: string): void;
}

export interface TrainResult {
  runDir: string;
  steps: number;
  finalLoss: number;
  finalEvalLoss: number | null;
  baseEvalLoss: number | null;
  adapterPath: string;
  stoppedEarly: boolean;
}

export async function train(
  cfg: TrainConfig,
  events: TrainEvents = {},
  resume = false,
): Promise<TrainResult> {
  if (cfg.threads > 0) getBackend().setThreads(cfg.threads);
  for (const [field, path] of [
    ["model", cfg.model],
    ["data", cfg.data],
    ["evalData", cfg.evalData],
  ] as const)
    if (path && !existsSync(path)) throw new InputError(`file not found: ${path}`, { field });
  const runDir = cfg.out;
  if (resume && !existsSync(join(runDir, "config.json")))
    throw new InputError("nothing to resume: no config.json in the run folder", { file: runDir });

  const full = cfg.method === "full";
  const model = Model.load(
    cfg.model,
    full ? { trainable: true } : frozenOptionsFor(cfg.quantizeBase, cfg.backwardCopy),
  );
  const freeList: Array<{ free(): void }> = [];
  try {
    const opts = { maxSeq: cfg.maxSeq, packing: cfg.packing, trainOn: cfg.trainOn };
    // image+text: the vision tower joins the run (lib/multimodal/train.ts)
    const mm = cfg.mmproj ? openMultimodal(cfg, model) : undefined;
    if (mm) freeList.push(mm);
    const load = (p: string) => (mm ? mm.loadRows(p) : loadTrainRows(p, model, opts));
    const trainRows: TrainRows = await load(cfg.data);
    const evalRows: TrainRows | undefined = cfg.evalData ? await load(cfg.evalData) : undefined;
    const languageTrainable = full
      ? fullTrainable(model)
      : mm?.languageTarget === ""
        ? emptyTrainable()
        : loraTrainable(
            LoraAdapter.create(
              model,
              {
                r: cfg.loraR,
                alpha: cfg.loraAlpha,
                dropout: cfg.loraDropout,
                rslora: cfg.rslora,
                targets: mm ? mm.languageTarget : cfg.target,
                dora: cfg.dora,
              },
              cfg.seed,
            ),
          );
    const trainable = mm ? mm.wrap(languageTrainable) : languageTrainable;
    freeList.push(trainable);
    checkMemory(estimateMemory(model, cfg, trainable.parameterCount));

    const grads = new GradientState(trainable.params());
    freeList.push(grads);
    const trainGraph = new StepGraph(model, {
      batch: cfg.batch,
      seqLen: cfg.maxSeq,
      grads,
      linear: (d) => trainable.linear(d),
      neftuneAlpha: cfg.neftuneAlpha,
      vision: mm?.stepVision(cfg.batch),
    });
    freeList.push(trainGraph);
    const evalGraph = evalRows
      ? new StepGraph(model, {
          batch: cfg.batch,
          seqLen: cfg.maxSeq,
          linear: () => trainable.linear(),
          vision: mm?.stepVision(cfg.batch),
        })
      : undefined;
    if (evalGraph) freeList.push(evalGraph);
    const adam = new AdamW(grads, {
      beta1: cfg.beta1,
      beta2: cfg.beta2,
      weightDecay: cfg.weightDecay,
      eightBit: cfg.optim === "adamw_8bit",
    });
    freeList.push(adam);

    const mbPerEpoch = Math.ceil(trainRows.rows.length / cfg.batch);
    const stepsPerEpoch = Math.ceil(mbPerEpoch / cfg.gradAccum);
    const totalSteps = cfg.maxSteps > 0 ? cfg.maxSteps : cfg.epochs * stepsPerEpoch;
    const warmupSteps = cfg.warmup < 1 ? Math.round(cfg.warmup * totalSteps) : Math.round(cfg.warmup);
    const orders = new Map<number, number[]>();
    const rowAt = (mb: number, b: number) => {
      const epoch = Math.floor(mb / mbPerEpoch);
      if (!orders.has(epoch))
        orders.set(epoch, new SeededRandom(cfg.seed * 1009 + epoch).shuffle(trainRows.rows.map((_, i) => i)));
      const i = (mb % mbPerEpoch) * cfg.batch + b;
      const order = orders.get(epoch)!;
      return i < order.length ? trainRows.rows[order[i]] : undefined;
    };

    const evaluate = (): EvalLogRow | undefined => {
      if (!evalGraph || !evalRows) return undefined;
      let nll = 0;
      let n = 0;
      for (let i = 0; i < evalRows.rows.length; i += cfg.batch) {
        const batch = evalRows.rows.slice(i, i + cfg.batch);
        const r = evalGraph.run(batch, Math.max(1, cfg.batch * cfg.maxSeq), 0);
        nll += r.nllSum;
        n += r.targets;
      }
      const loss = nll / Math.max(1, n);
      return { type: "eval", step: state.step, eval_loss: loss, eval_ppl: Math.exp(loss), eval_tokens: n };
    };

    let state: TrainState = {
      step: 0,
      microBatches: 0,
      tokens: 0,
      bestEvalLoss: null,
      evalsWithoutImprovement: 0,
    };
    const metricsPath = join(runDir, "metrics.jsonl");
    mkdirSync(runDir, { recursive: true });
    if (resume) {
      const last = listCheckpoints(runDir).pop();
      if (!last) throw new InputError("nothing to resume: no checkpoint in the run folder", { file: runDir });
      const ck = loadCheckpoint(
        last.dir,
        trainable.params().map((p) => p.nelements),
      );
      trainable.restore(ck.params);
      if (ck.adam.format !== adam.stateFormat)
        throw new InputError(
          `the checkpoint's optimizer states are ${ck.adam.format === "q8" ? "8-bit (adamw_8bit)" : "f32 (adamw)"}: resume with the same optim`,
          { file: last.dir, field: "optim" },
        );
      adam.importState(ck.adam);
      state = ck.state;
      // metrics after the checkpoint belong to the interrupted attempt: drop them
      const kept = existsSync(metricsPath)
        ? readFileSync(metricsPath, "utf8")
            .split("\n")
            .filter((l) => l && (JSON.parse(l) as { step: number }).step <= state.step)
        : [];
      writeFileAtomic(metricsPath, kept.map((l) => l + "\n").join(""));
    } else {
      writeFileAtomic(join(runDir, "config.json"), JSON.stringify(cfg, null, 2));
      writeFileAtomic(metricsPath, "");
    }
    const log = (row: TrainLogRow | EvalLogRow) => appendFileSync(metricsPath, JSON.stringify(row) + "\n");
    events.onStart?.({
      totalSteps,
      trainRows: trainRows.rows.length,
      evalRows: evalRows?.rows.length ?? 0,
      parameters: trainable.parameterCount,
      resumedAt: state.step,
    });

    let baseEvalLoss: number | null = null;
    if (!resume && evalGraph) {
      const base = evaluate()!;
      baseEvalLoss = base.eval_loss;
      log(base);
      events.onEval?.(base);
    }
    const started = performance.now();
    let lastLoss = NaN;
    let lastEval: number | null = null;
    let stoppedEarly = false;
    let windowTokens = 0;
    let windowStart = performance.now();
    const saveAt = async (evalLoss?: number) => {
      const dir = join(runDir, "checkpoints", `step-${state.step}`);
      await saveCheckpoint(dir, { state, params: trainable.snapshot(), adam: adam.exportState(), evalLoss });
      pruneCheckpoints(runDir, cfg.keepBest);
      events.onCheckpoint?.(dir);
    };

    while (state.step < totalSteps) {
      // An optimizer step never spans two epochs: the last step of an epoch accumulates what is left
      // (as transformers' Trainer does), so "3 epochs" means three passes over the data.
      const epochEnd = (Math.floor(state.microBatches / mbPerEpoch) + 1) * mbPerEpoch;
      const windowSize = Math.min(cfg.gradAccum, epochEnd - state.microBatches);
      const window: Array<ReturnType<typeof rowAt>[]> = [];
      for (let k = 0; k < windowSize; k++) {
        const mb = state.microBatches + k;
        window.push(Array.from({ length: cfg.batch }, (_, b) => rowAt(mb, b)));
      }
      const normaliser = window.flat().reduce((s, r) => s + (r ? countTargets(r) : 0), 0);
      grads.zero();
      let nll = 0;
      let targets = 0;
      window.forEach((rows, k) => {
        const r = trainGraph.run(
          rows.filter((x) => x !== undefined) as NonNullable<(typeof rows)[number]>[],
          normaliser,
          cfg.seed * 7919 + state.microBatches + k,
        );
        nll += r.nllSum;
        targets += r.targets;
      });
      const lr = learningRate({ lr: cfg.lr, scheduler: cfg.scheduler, warmupSteps, totalSteps }, state.step);
      const { gradNorm } = normaliser > 0 ? adam.update(lr, cfg.maxGradNorm) : { gradNorm: 0 };
      trainable.afterUpdate();
      state.step++;
      state.microBatches += windowSize;
      state.tokens += targets;
      windowTokens += window.flat().filter(Boolean).length * cfg.maxSeq;
      lastLoss = nll / Math.max(1, targets);
      if (state.step % cfg.logEvery === 0 || state.step === totalSteps) {
        const now = performance.now();
        const row: TrainLogRow = {
          type: "train",
          step: state.step,
          epoch: state.microBatches / mbPerEpoch,
          loss: lastLoss,
          lr,
          grad_norm: gradNorm,
          tokens: state.tokens,
          tokens_per_s: windowTokens / ((now - windowStart) / 1000),
          elapsed_s: (now - started) / 1000,
        };
        windowTokens = 0;
        windowStart = now;
        log(row);
        events.onLog?.(row);
      }
      let evalLoss: number | undefined;
      if (evalGraph && cfg.evalEvery > 0 && (state.step % cfg.evalEvery === 0 || state.step === totalSteps)) {
        const e = evaluate()!;
        evalLoss = lastEval = e.eval_loss;
        log(e);
        events.onEval?.(e);
        if (state.bestEvalLoss === null || e.eval_loss < state.bestEvalLoss) {
          state.bestEvalLoss = e.eval_loss;
          state.evalsWithoutImprovement = 0;
        } else state.evalsWithoutImprovement++;
      }
      if ((cfg.saveEvery > 0 && state.step % cfg.saveEvery === 0) || state.step === totalSteps)
        await saveAt(evalLoss);
      if (cfg.earlyStopping > 0 && state.evalsWithoutImprovement >= cfg.earlyStopping) {
        stoppedEarly = true;
        if (state.step % (cfg.saveEvery || Infinity) !== 0) await saveAt(evalLoss);
        break;
      }
    }
    if (evalGraph && lastEval === null) {
      const e = evaluate()!;
      lastEval = e.eval_loss;
      log(e);
      events.onEval?.(e);
    }
    const adapterPath = await trainable.saveOutputs(runDir, model, cfg.model);
    return {
      runDir,
      steps: state.step,
      finalLoss: lastLoss,
      finalEvalLoss: lastEval,
      baseEvalLoss,
      adapterPath,
      stoppedEarly,
    };
  } finally {
    for (const f of freeList.reverse()) f.free();
    model.dispose();
  }
}
