// Source of notebooks/08-vision.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).

// %% [markdown]
// # 08 · Vision: image questions
//
// Fine-tuning a vision-language model to name what a photo shows — the CaficulBot task (coffee-leaf
// diseases) on a model small enough for a notebook: a tiny random Gemma 3 language model plus a tiny
// SigLIP vision tower and Gemma 3 projector, both made here from scratch. Images enter the language
// model exactly as llama.cpp's `mtmd` feeds them: `<start_of_image>`, one soft token per pooled patch
// group (not scaled by √n_embd), `<end_of_image>`, attending to each other both ways.
//
// The photos are the 100 coffee leaves in `../shared/data/images/coffee-leaf` when that folder exists
// (five classes), else the drawn leaves in `data/leaf-images`. A held-out split is never trained on;
// accuracy and the confusion matrix are measured on it before and after training.

// %% Data
import * as path from "node:path";
import { existsSync } from "node:fs";
import { LivePlot, showImage, showMarkdown, showPlot, showTable } from "../dist/notebooks/display.js";
import { notebookRunDir, writeRunJson } from "../dist/notebooks/run-folder.js";
import { notebookSettings } from "../dist/notebooks/settings.js";
import { SAMPLE_DATA_DIR } from "../dist/notebooks/samples.js";
import { sharedDir } from "../dist/util/paths.js";

const settings = notebookSettings();
const shared = sharedDir();
const coffee = shared ? path.join(shared, "data", "images", "coffee-leaf") : undefined;
const imagesDir = coffee && existsSync(coffee) ? coffee : path.join(SAMPLE_DATA_DIR, "leaf-images");
// fast mode (tests): small images, no extra views and a handful of steps — the same code path, a weaker
// model. The full run is runImageExperiment's recipe (bench/vision-coffee.ts; ~10 min on one core).
const sizes = settings.fast
  ? { steps: 12, imageSize: 32, patchSize: 8, mergeFactor: 2, views: 0 }
  : { steps: 1200, imageSize: 128, patchSize: 8, mergeFactor: 4, views: 16 };
showTable([{ images: imagesDir, ...sizes }], { title: "Experiment" });

// %% [markdown]
// ## Train, and measure before and after
//
// `runImageExperiment` prepares the image questions (`data prepare --format images --stratify`, 30 % of
// every class held out), adds 16 random views (crops, flips, brightness) of each training photo, stretches
// every photo to the tower's square, makes the two tiny towers, evaluates them untrained, fine-tunes
// every tensor of both (vision, projector and language model — from random weights the encoder must
// learn), and evaluates again. The loss chart is redrawn as training goes.

// %% Run
import { runImageExperiment } from "../dist/multimodal/experiment.js";
import { lossFigure } from "../dist/notebooks/training-view.js";

type LogRow = Parameters<NonNullable<import("../dist/train/trainer.js").TrainEvents["onLog"]>>[0];
const live: LogRow[] = [];
const chart = new LivePlot();
const workDir = path.join(notebookRunDir(), "vision");
const result = await runImageExperiment({
  images: imagesDir,
  workDir,
  ...sizes,
  threads: 1,
  events: {
    onLog: (row) => {
      live.push(row);
      chart.update(lossFigure(live, { title: "Loss (live)" }));
    },
  },
});
chart.finish(lossFigure(live, { title: `Loss, ${result.train.steps} steps` }));

// %% [markdown]
// ## The held-out image questions

// %% Preview
import { imageQuestionsPreview } from "../dist/multimodal/preview.js";

const preview = await imageQuestionsPreview({
  data: path.join(result.dataDir, "eval.jsonl"),
  limit: 6,
  sheet: path.join(workDir, "eval-preview.png"),
});
showImage(preview.sheet, { caption: "Held-out photos, captioned with the reference answer" });

// %% [markdown]
// ## Accuracy and confusion matrix
//
// The answer's class name is read from the generated text (an answer naming no class counts as
// "(other)"). Rows of the matrix are the reference classes, columns the predicted ones; the colour is
// the share of the row.

// %% Accuracy
import { confusionMatrixFigure } from "../dist/eval/plots.js";

const chance = 1 / result.classes.filter((c) => c !== "(other)").length;
showTable(
  [
    { model: "untrained", accuracy: result.before.accuracy, "macro F1": result.before.macroF1 },
    { model: "fine-tuned", accuracy: result.after.accuracy, "macro F1": result.after.macroF1 },
    { model: "chance", accuracy: chance, "macro F1": null },
  ],
  { title: `Held-out accuracy (${result.evalImages} photos, trained on ${result.trainImages})` },
);
showPlot(confusionMatrixFigure(result.before, "Before training"));
showPlot(confusionMatrixFigure(result.after, "After training"));
showTable(
  Object.entries(result.after.perClass).map(([label, p]) => ({ class: label, ...p })),
  { title: "Per class after training" },
);
showTable(
  result.predictions.slice(0, 10).map((p) => ({ ...p })),
  { title: "Answers (first 10)" },
);

// %% Write vision.json
const written = writeRunJson("vision.json", {
  images: imagesDir,
  model: result.model,
  mmproj: result.mmproj,
  accuracyBefore: result.before.accuracy,
  accuracyAfter: result.after.accuracy,
  labels: result.after.labels,
  matrix: result.after.matrix,
});
showMarkdown(`Wrote \`${written}\`.

The same run from the command line, with any Gemma 3 GGUF and its mmproj:

\`\`\`
npx tunekit data prepare --format images --in ${imagesDir} --out data/coffee --eval-fraction 0.3 --stratify --augment "*=2"
npx tunekit train --model gemma3.gguf --mmproj mmproj.gguf --data data/coffee/train.jsonl --target all-linear,vision --train-projector --out runs/vision
npx tunekit eval --model gemma3.gguf --adapter runs/vision/adapter.gguf --mmproj runs/vision/mmproj.gguf --data data/coffee/eval.jsonl --plot confusion.html
\`\`\``);
