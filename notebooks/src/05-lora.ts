// Source of notebooks/05-lora.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).

// %% [markdown]
// # 05 · LoRA and QLoRA
//
// Load the base model, compare LoRA and QLoRA configurations — how many parameters each trains and how
// much memory the trainer expects — and estimate how long the training run of 06 takes on this
// machine, from a few real steps. The chosen configuration goes to the run folder for 06.

// %% The base model
import * as path from "node:path";
import { statSync } from "node:fs";
import { showMarkdown, showPlot, showTable } from "../dist/notebooks/display.js";
import { formatBytes } from "../dist/notebooks/environment.js";
import { notebookBaseModel, notebookSettings } from "../dist/notebooks/settings.js";
import { readRunJson, notebookRunDir, writeRunJson } from "../dist/notebooks/run-folder.js";
import { Model } from "../dist/models/model.js";
import { modelParameterCount } from "../dist/notebooks/lora-plan.js";

const settings = notebookSettings();
const base = notebookBaseModel();
const model = Model.load(base.path);
const c = model.config;
showTable(
  [
    { item: "file", value: base.path },
    { item: "file size", value: formatBytes(statSync(base.path).size) },
    { item: "architecture", value: c.arch },
    { item: "parameters", value: modelParameterCount(model).toLocaleString("en") },
    { item: "layers × width", value: `${c.nLayer} × ${c.nEmbd} (FFN ${c.nFf})` },
    { item: "attention heads", value: `${c.nHead} (KV ${c.nHeadKv}), head size ${c.headDim}` },
    { item: "vocabulary", value: c.nVocab },
    { item: "training context", value: c.nCtxTrain },
    { item: "chat template", value: model.chatTemplate ? "yes" : "none (the trainer uses its fallback)" },
    { item: "weights in memory", value: formatBytes(model.weights.bytes) },
  ],
  { title: "Base model" },
);
showTable(
  model.file.tensors
    .slice(0, 12)
    .map((t) => ({ tensor: t.name, shape: t.shape.join(" × "), bytes: t.nbytes })),
  { title: `First tensors (of ${model.file.tensors.length})` },
);
model.dispose();

// %% [markdown]
// ## LoRA and QLoRA configurations
//
// LoRA adds y = W·x + (α/r)·B·A·x to the chosen linear layers and trains only A and B. QLoRA holds the
// frozen base quantized (q8_0, q4_k or q4_0) to save memory. DoRA (`--dora`) also trains a magnitude per
// output row: y = m/‖W + (α/r)·B·A‖ ⊙ (W·x + (α/r)·B·A·x). `--optim adamw_8bit` holds AdamW's two moments
// as block-wise 8-bit codes (about 1.06 bytes a value instead of 4). The figures come from the adapter the
// trainer would create and from the memory estimate it checks before a run.

// %% Configuration table
import { planLoraRuns } from "../dist/notebooks/lora-plan.js";

const plans = [
  { name: "LoRA r8 q,v", lora: { r: 8, alpha: 16, targets: "q,v" }, quantizeBase: "none" as const },
  {
    name: "LoRA r8 α32 (Amazon titles)",
    lora: { r: 8, alpha: 32, targets: "q,k,v,o,gate,up,down" },
    quantizeBase: "none" as const,
  },
  {
    name: "LoRA r16 all-linear",
    lora: { r: 16, alpha: 32, targets: "all-linear" },
    quantizeBase: "none" as const,
  },
  {
    name: "LoRA r32 α64 (CaficulBot)",
    lora: { r: 32, alpha: 64, targets: "all-linear" },
    quantizeBase: "none" as const,
  },
  {
    name: "QLoRA q8_0 r16",
    lora: { r: 16, alpha: 32, targets: "all-linear" },
    quantizeBase: "q8_0" as const,
  },
  {
    name: "QLoRA q4_k r16 (Gemergency)",
    lora: { r: 16, alpha: 16, targets: "all-linear" },
    quantizeBase: "q4_k" as const,
  },
  {
    name: "DoRA r16 all-linear",
    lora: { r: 16, alpha: 32, targets: "all-linear", dora: true },
    quantizeBase: "none" as const,
  },
  {
    name: "LoRA r16, 8-bit AdamW",
    lora: { r: 16, alpha: 32, targets: "all-linear" },
    quantizeBase: "none" as const,
    optim: "adamw_8bit" as const,
  },
];
const planRows = planLoraRuns(base.path, plans, { batch: settings.batch, maxSeq: settings.maxSeq });
const mib = (b: number) => Number((b / 2 ** 20).toFixed(2));
showTable(
  planRows.map((r) => ({
    configuration: r.name,
    base: r.quantizeBase,
    DoRA: r.dora ? "yes" : "",
    optimizer: r.optim,
    r: r.r,
    α: r.alpha,
    scale: r.scale,
    layers: r.layers,
    "trainable params": r.trainableParams,
    "% of base": Number(r.trainablePercent.toFixed(2)),
    "base MiB": mib(r.weightsBytes),
    "adapter + AdamW MiB": mib(r.adapterBytes),
    "activations MiB": mib(r.activationBytes),
  })),
  { title: `Per configuration, batch ${settings.batch} × ${settings.maxSeq} tokens` },
);
showPlot({
  data: [
    {
      type: "bar",
      name: "frozen base",
      x: planRows.map((r) => r.name),
      y: planRows.map((r) => mib(r.weightsBytes)),
    },
    {
      type: "bar",
      name: "adapter + AdamW",
      x: planRows.map((r) => r.name),
      y: planRows.map((r) => mib(r.adapterBytes)),
    },
    {
      type: "bar",
      name: "activations",
      x: planRows.map((r) => r.name),
      y: planRows.map((r) => mib(r.activationBytes)),
    },
  ],
  layout: {
    title: { text: "Training memory estimate" },
    barmode: "stack",
    yaxis: { title: { text: "MiB" } },
  },
});

// %% [markdown]
// ## The run for 06, and how long it takes
//
// 06 trains LoRA r16 on all linear layers on the coffee Q&A prepared in 02. `estimateRun` loads the
// model and the data, runs a few real training steps of this shape, and extrapolates.

// %% Time estimate
import { estimateRun, resolveTrainConfig } from "../dist/train/estimate.js";

interface TextData {
  datasets: Array<{ name: string; train: string; eval: string }>;
  training: string;
}
const textData = readRunJson<TextData>("text-data.json", "02-text");
const coffee = textData.datasets.find((d) => d.name === textData.training)!;
const chosen = {
  model: base.path,
  data: coffee.train,
  evalData: coffee.eval,
  out: path.join(notebookRunDir(), "train"),
  loraR: 16,
  loraAlpha: 32,
  target: "all-linear",
  quantizeBase: "none",
  batch: settings.batch,
  maxSeq: settings.maxSeq,
  lr: 1e-3,
  warmup: 0.1,
  maxSteps: settings.trainSteps,
  evalEvery: settings.evalEvery,
  saveEvery: settings.evalEvery,
  keepBest: 2,
};
const estimate = await estimateRun(resolveTrainConfig(undefined, chosen), 2);
showTable(
  [
    { item: "training rows (packed)", value: estimate.trainRows },
    { item: "optimizer steps", value: estimate.totalSteps },
    { item: "tokens per step", value: estimate.tokensPerStep },
    { item: "seconds per step", value: estimate.secondsPerStep.toFixed(3) },
    { item: "tokens per second", value: Math.round(estimate.tokensPerSecond) },
    { item: "estimated run time", value: `${estimate.totalSeconds.toFixed(1)} s` },
    { item: "memory beyond the weights", value: formatBytes(estimate.memory.totalBytes) },
    { item: "free memory", value: formatBytes(estimate.memory.availableBytes) },
  ],
  { title: "Estimate for 06 (measured on this machine)" },
);

// %% Write lora.json
const written = writeRunJson("lora.json", {
  baseModel: base.path,
  train: chosen,
  estimate: estimate,
  plans: planRows,
});
showMarkdown(`Wrote \`${written}\`.`);
