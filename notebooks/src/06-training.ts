// Source of notebooks/06-training.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).

// %% [markdown]
// # 06 · Training
//
// A LoRA fine-tune of the base model on the coffee Q&A prepared in 02, with the configuration chosen
// in 05: tunekit's own trainer (ggml through koffi), loss on the assistant turns only, evaluation on
// the held-out split and checkpoints as it goes. The loss chart is redrawn while the run goes on. Then
// the run is extended and resumed from its last checkpoint — as after an interruption.

// %% Configuration
import { rmSync } from "node:fs";
import { LivePlot, showMarkdown, showPlot, showTable } from "../dist/notebooks/display.js";
import { readRunJson, writeRunJson } from "../dist/notebooks/run-folder.js";
import { notebookSettings } from "../dist/notebooks/settings.js";
import { resolveTrainConfig } from "../dist/train/config.js";

const settings = notebookSettings();
const lora = readRunJson<{ train: Record<string, unknown> }>("lora.json", "05-lora");
const cfg = resolveTrainConfig(undefined, lora.train);
rmSync(cfg.out, { recursive: true, force: true }); // a fresh run folder each time the notebook runs
showTable(
  Object.entries(cfg).map(([setting, value]) => ({ setting, value })),
  { title: "Training configuration", maxRows: 60 },
);

// %% [markdown]
// ## Train
//
// The events of `train()` feed the chart: `onLog` after every optimizer step, `onEval` after every
// evaluation (the first one, at step 0, is the base model before any training).

// %% Train with a live loss chart
import { train } from "../dist/train/trainer.js";
import { lossFigure } from "../dist/notebooks/training-view.js";

type LogRow = Parameters<NonNullable<import("../dist/train/trainer.js").TrainEvents["onLog"]>>[0];
type EvalRow = Parameters<NonNullable<import("../dist/train/trainer.js").TrainEvents["onEval"]>>[0];
const live: Array<LogRow | EvalRow> = [];
const chart = new LivePlot();
const events = {
  onStart: (info: { totalSteps: number; trainRows: number; evalRows: number; parameters: number }) =>
    showMarkdown(
      `${info.trainRows} training rows, ${info.evalRows} eval rows, ${info.parameters.toLocaleString("en")} trainable parameters, ${info.totalSteps} steps.`,
    ),
  onLog: (row: LogRow) => {
    live.push(row);
    chart.update(lossFigure(live, { title: "Loss (live)" }));
  },
  onEval: (row: EvalRow) => {
    live.push(row);
    chart.update(lossFigure(live, { title: "Loss (live)" }));
  },
};
const t0 = performance.now();
const result = await train(cfg, events);
const trainSeconds = (performance.now() - t0) / 1000;
chart.finish(lossFigure(live, { title: `Loss, ${result.steps} steps` }));
showTable(
  [
    { item: "steps", value: result.steps },
    { item: "final train loss", value: result.finalLoss },
    { item: "eval loss before training", value: result.baseEvalLoss },
    { item: "eval loss after training", value: result.finalEvalLoss },
    {
      item: "eval perplexity before → after",
      value: `${Math.exp(result.baseEvalLoss!).toFixed(2)} → ${Math.exp(result.finalEvalLoss!).toFixed(2)}`,
    },
    { item: "adapter", value: result.adapterPath },
    { item: "wall time", value: `${trainSeconds.toFixed(1)} s` },
  ],
  { title: "Result" },
);

// %% [markdown]
// ## Metrics and checkpoints
//
// Everything the chart shows is in `metrics.jsonl` in the run folder. The trainer keeps the last
// checkpoint and the best ones by eval loss; each holds the adapter, the AdamW moments and the data
// position, so a run continues exactly where it stopped.

// %% Metrics and checkpoints
import { checkpointRows, readMetrics } from "../dist/notebooks/training-view.js";
import { formatBytes } from "../dist/notebooks/environment.js";
import * as path from "node:path";

const metrics = readMetrics(cfg.out);
showTable(
  metrics.filter((r) => r.type === "eval").map((r) => ({ ...r })),
  { title: "Evaluations (metrics.jsonl)" },
);
showTable(
  metrics
    .filter((r) => r.type === "train")
    .slice(-5)
    .map((r) => ({ ...r })),
  {
    title: "Last training steps (metrics.jsonl)",
  },
);
showTable(
  checkpointRows(cfg.out).map((c) => ({
    ...c,
    checkpoint: path.relative(cfg.out, c.checkpoint),
    bytes: formatBytes(c.bytes),
  })),
  { title: "Checkpoints" },
);

// %% [markdown]
// ## Resume
//
// Extend the run by a few steps and call `train(cfg, events, true)`: it loads the last checkpoint
// (adapter, optimizer state, step and data position) and continues; metrics.jsonl keeps the rows up
// to that checkpoint.

// %% Resume
const firstSteps = result.steps;
const extended = resolveTrainConfig(undefined, {
  ...lora.train,
  maxSteps: firstSteps + settings.resumeSteps,
});
const resumeChart = new LivePlot();
const resumeEvents = {
  onStart: (info: { resumedAt: number; totalSteps: number }) =>
    showMarkdown(`Resuming at step ${info.resumedAt} of ${info.totalSteps}.`),
  onLog: (row: LogRow) => {
    live.push(row);
    resumeChart.update(lossFigure(live, { title: "Loss (live, resumed)" }));
  },
  onEval: (row: EvalRow) => {
    live.push(row);
    resumeChart.update(lossFigure(live, { title: "Loss (live, resumed)" }));
  },
};
const resumed = await train(extended, resumeEvents, true);
const allMetrics = readMetrics(cfg.out);
resumeChart.finish(
  lossFigure(allMetrics, {
    title: `Loss over the first run and the resumed one (metrics.jsonl)`,
    markStep: { step: firstSteps, label: "resumed here" },
  }),
);
showTable(
  [
    {
      run: "first",
      steps: result.steps,
      "final train loss": result.finalLoss,
      "final eval loss": result.finalEvalLoss,
    },
    {
      run: "resumed",
      steps: resumed.steps,
      "final train loss": resumed.finalLoss,
      "final eval loss": resumed.finalEvalLoss,
    },
  ],
  { title: "First run and resumed run" },
);
showTable(
  checkpointRows(cfg.out).map((c) => ({
    ...c,
    checkpoint: path.relative(cfg.out, c.checkpoint),
    bytes: formatBytes(c.bytes),
  })),
  { title: "Checkpoints after resuming" },
);

// %% Write training.json
const written = writeRunJson("training.json", {
  runDir: cfg.out,
  baseModel: cfg.model,
  adapter: resumed.adapterPath,
  evalData: cfg.evalData,
  trainData: cfg.data,
  steps: resumed.steps,
  baseEvalLoss: result.baseEvalLoss,
  finalEvalLoss: resumed.finalEvalLoss,
  trainSeconds: trainSeconds,
});
showMarkdown(`Wrote \`${written}\`.`);
