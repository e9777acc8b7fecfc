// Source of notebooks/04-images.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).

// %% [markdown]
// # 04 · Images
//
// `data/leaf-images/` holds drawn coffee leaves, one folder per class (plus a `labels.csv`). The
// `images` format turns each image into a record — the user shows the image and asks a question, the
// assistant answers with the class — for vision-language models such as Gemma 3n.
//
// As in the CaficulBot project, the training split is augmented (brightness ±5 %, contrast ±5 %,
// rotation ±3°, Gaussian blur radius 0.1–0.3, saturation ±2 %, sharpness ±2 %) with per-class
// multipliers: critical classes ×4, the others ×2. Text-only records can get a black 224×224
// placeholder image for models that need an image in every example.

// %% Class balance before augmentation
import * as path from "node:path";
import { showImage, showMarkdown, showPlot, showTable } from "../dist/notebooks/display.js";
import { notebookRunDir, writeRunJson } from "../dist/notebooks/run-folder.js";
import { SAMPLE_DATA_DIR } from "../dist/notebooks/samples.js";
import { classBalanceChart, findLabeledImages, RowIssues } from "../dist/data/index.js";

const imagesDir = path.join(SAMPLE_DATA_DIR, "leaf-images");
const found = findLabeledImages(imagesDir, new RowIssues());
showMarkdown(`${found.images.length} images found (layout: \`${found.layout}\`).`);

// %% [markdown]
// ## Prepare with augmentation
//
// The multipliers say how many images a class ends with in the training split: ×4 for the diseases
// that must not be missed (rust, cercospora), ×2 for the rest (`*`).

// %% Prepare
import { CAFICULBOT_RANGES, parseMultipliers, prepareDataset } from "../dist/data/index.js";

const multipliers = parseMultipliers("rust=4,cercospora=4,*=2");
const outDir = path.join(notebookRunDir(), "data", "leaf-images");
const report = await prepareDataset({
  format: "images",
  input: imagesDir,
  outDir,
  seed: 42,
  evalFraction: 0.2,
  augment: multipliers,
  imageQuestion: "¿Qué tiene esta hoja de café?",
});
showTable(
  Object.entries(CAFICULBOT_RANGES).map(([k, v]) => ({
    setting: k,
    range: Array.isArray(v) ? `${v[0]}–${v[1]}` : `±${v}`,
  })),
  { title: "Augmentation ranges (CaficulBot)" },
);
showTable(
  Object.entries(multipliers).map(([label, m]) => ({ class: label, multiplier: m })),
  { title: "Per-class multipliers" },
);
showTable([report.counts], { title: "Counts" });

// %% [markdown]
// ## Class balance

// %% Class balance chart
const before = report.classBalance!.all;
const after = report.classBalance!.trainAfterAugmentation;
showTable(
  before.map((b) => ({
    class: b.label,
    images: b.count,
    "train after augmentation": after.find((a) => a.label === b.label)?.count ?? 0,
  })),
  { title: "Images per class" },
);
showPlot(classBalanceChart(before, "Class balance of the source images"));
showPlot(classBalanceChart(after, "Class balance of the training split after augmentation"));

// %% [markdown]
// ## Augmentation preview
//
// One image per class with as many augmented copies as its multiplier asks for (the changes are
// deliberately subtle). Parameters are drawn from a seeded generator, so the preview is reproducible.

// %% Contact sheet
import { augmentationPreview } from "../dist/notebooks/augment-preview.js";

const onePerClass = before.map((b) => found.images.find((im) => im.label === b.label)!);
const preview = await augmentationPreview({
  images: onePerClass.map((im) => ({ path: im.path, label: im.label })),
  multipliers: multipliers,
  out: path.join(notebookRunDir(), "augmentation-preview.png"),
  seed: 7,
});
showImage(preview.sheet, {
  caption: `Originals (left, captioned with the class) and augmented copies (captioned with their rotation); ${preview.rows.length} copies`,
});
showTable(
  preview.rows.map((r) => ({
    ...r,
    image: path.basename(path.dirname(r.image)) + "/" + path.basename(r.image),
  })),
  { title: "Drawn parameters" },
);

// %% [markdown]
// ## Records and placeholders
//
// The prepared records point at images copied into the dataset folder. A text-only dataset prepared
// with `placeholderSize: 224` gets a black image in every record instead.

// %% Placeholders
import { examplesTable, readRecords } from "../dist/data/index.js";
import { displayBundle } from "../dist/notebooks/display.js";

const train = await readRecords(path.join(outDir, "train.jsonl"));
displayBundle({
  "text/html": examplesTable(train, { limit: 3 }),
  "text/plain": `${train.length} train records`,
});
const withPlaceholders = path.join(notebookRunDir(), "data", "coffee-qa-placeholders");
const textReport = await prepareDataset({
  format: "qa",
  input: path.join(SAMPLE_DATA_DIR, "coffee-qa.jsonl"),
  outDir: withPlaceholders,
  seed: 42,
  placeholderSize: 224,
});
const placeholderRecords = await readRecords(path.join(withPlaceholders, "train.jsonl"));
displayBundle({
  "text/html": examplesTable(placeholderRecords, { limit: 2 }),
  "text/plain": `${textReport.counts.placeholders} placeholders`,
});
const firstImage = placeholderRecords[0]!.messages.flatMap((m) =>
  Array.isArray(m.content) ? m.content.filter((p) => p.type === "image") : [],
)[0] as { path: string };
showImage(firstImage.path, { width: 112, caption: `placeholder: ${path.basename(firstImage.path)}` });
showTable([
  {
    dataset: "coffee-qa + placeholders",
    records: textReport.counts.train + textReport.counts.eval,
    placeholders: textReport.counts.placeholders,
  },
]);

// %% [markdown]
// ## Image questions as a vision model sees them
//
// For training and evaluation (notebook 08) every image part becomes, as in llama.cpp's `mtmd`,
// `<start_of_image>`, one slot per soft token of the vision encoder (16 here, for a 64-pixel tower
// with 8-pixel patches pooled 2×2), and `<end_of_image>`; only the answer is trained. The layout below
// uses the embedded default model's tokenizer and chat template.

// %% Image-question preview
import { imageQuestionsPreview } from "../dist/multimodal/preview.js";
import { loadModelText } from "../dist/data/model-text.js";
import { DEFAULT_MODEL_PATH } from "../dist/notebooks/settings.js";

const text = loadModelText(DEFAULT_MODEL_PATH);
const questions = await imageQuestionsPreview({
  data: path.join(outDir, "eval.jsonl"),
  limit: 4,
  sheet: path.join(notebookRunDir(), "image-questions.png"),
  layout: {
    tokenizer: text.tokenizer,
    render: text.render!,
    image: { begin: "<start_of_image>", end: "<end_of_image>", tokensPerImage: 16 },
  },
});
showImage(questions.sheet, { caption: "Held-out image questions, captioned with the reference answer" });
showTable(
  questions.rows.map((r) => ({ ...r })),
  { title: "Token layout (image slots collapsed)" },
);

// %% Write images.json
const written = writeRunJson("images.json", {
  dir: outDir,
  train: path.join(outDir, "train.jsonl"),
  eval: path.join(outDir, "eval.jsonl"),
  multipliers: multipliers,
  counts: report.counts,
  classBalance: report.classBalance,
  preview: preview.sheet,
  placeholders: { dir: withPlaceholders, count: textReport.counts.placeholders },
});
showMarkdown(`Wrote \`${written}\`.`);
