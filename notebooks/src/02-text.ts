// Source of notebooks/02-text.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).

// %% [markdown]
// # 02 · Text data
//
// Three kinds of text data become one canonical form — OpenAI-style chat `messages` — through
// `prepareDataset` (the function behind `tunekit data prepare`):
//
// | dataset | format | shape |
// | --- | --- | --- |
// | `coffee-qa.jsonl` | `qa` | Spanish questions and answers (`preguntas` / `respuestas`) |
// | `first-aid.jsonl` | `instruction` | `instruction` / `output` pairs |
// | `chat-export/` | `chat-export` | chat exports (`sender`, `userInput`, `claudeOutputText`), in `instruct` and `conversational` mode |
//
// Each prepared dataset is a folder with `train.jsonl`, `eval.jsonl` and `report.json` in the run
// folder. Then we explore the records with polars, plot their token lengths with the base model's
// tokenizer, and look at the loss mask: which tokens training learns from.

// %% Base model and run folder
import * as path from "node:path";
import { displayBundle, showMarkdown, showPlot, showTable } from "../dist/notebooks/display.js";
import { notebookBaseModel, notebookSettings } from "../dist/notebooks/settings.js";
import { notebookRunDir, writeRunJson } from "../dist/notebooks/run-folder.js";
import { trainingText, maskView } from "../dist/notebooks/mask-view.js";
import { SAMPLE_DATA_DIR } from "../dist/notebooks/samples.js";

const settings = notebookSettings();
const base = notebookBaseModel();
const text = trainingText(base.path);
const runDir = notebookRunDir();
showTable(
  [
    { item: "base model", value: base.path },
    { item: "vocabulary", value: `${text.model.tokenizer.vocabSize} tokens` },
    {
      item: "chat template",
      value: text.fallbackTemplate ? "none in the file: the trainer's fallback" : "the model's own",
    },
    { item: "max sequence", value: `${settings.maxSeq} tokens` },
    { item: "run folder", value: runDir },
  ],
  { title: "Setup" },
);

// %% [markdown]
// ## Prepare the datasets
//
// Every dataset is converted, de-duplicated and split into train and eval with a fixed seed. The
// `measure` option makes the report count tokens with the base model's template, and `maxTokens`
// counts records longer than a training sequence.

// %% Prepare
import { prepareDataset, recordTokenCounter } from "../dist/data/index.js";

const measure = recordTokenCounter({ ...text.model, render: text.render });
const specs = [
  { name: "coffee-qa", format: "qa", input: "coffee-qa.jsonl", evalFraction: 0.1 },
  { name: "first-aid", format: "instruction", input: "first-aid.jsonl", evalFraction: 0.1 },
  {
    name: "chat-instruct",
    format: "chat-export",
    input: "chat-export",
    mode: "instruct" as const,
    evalFraction: 0.1,
  },
  {
    name: "chat-conversational",
    format: "chat-export",
    input: "chat-export",
    mode: "conversational" as const,
    evalFraction: 0.1,
  },
];
const prepared = [];
for (const s of specs) {
  const outDir = path.join(runDir, "data", s.name);
  const report = await prepareDataset({
    format: s.format,
    input: path.join(SAMPLE_DATA_DIR, s.input),
    outDir,
    seed: 42,
    evalFraction: s.evalFraction,
    ...(s.mode ? { mode: s.mode } : {}),
    measure,
    maxTokens: settings.maxSeq,
  });
  prepared.push({ ...s, dir: outDir, report });
}
showTable(
  prepared.map((p) => ({
    dataset: p.name,
    format: p.format + (p.mode ? ` (${p.mode})` : ""),
    converted: p.report.counts.converted,
    duplicates: p.report.counts.duplicates,
    train: p.report.counts.train,
    eval: p.report.counts.eval,
    "tokens p50": p.report.lengths.train.tokens?.p50,
    "tokens max": p.report.lengths.train.tokens?.max,
    [`over ${settings.maxSeq}`]: p.report.lengths.train.overMaxTokens,
  })),
  { title: "Prepared datasets (token counts of the train split, with the base model's template)" },
);

// %% [markdown]
// ## Explore with polars
//
// `recordsFrame` turns records into a polars DataFrame (one row per record: roles, first user
// message, last assistant message, characters…), so the usual polars operations apply.

// %% Records as a DataFrame
import pl from "nodejs-polars";
import { readRecords, recordsFrame } from "../dist/data/index.js";

const frames = [];
for (const p of prepared) {
  const records = await readRecords(path.join(p.dir, "train.jsonl"));
  frames.push((await recordsFrame(records)).withColumn(pl.lit(p.name).alias("dataset")));
}
const all = pl.concat(frames);
showTable(
  all
    .groupBy("dataset")
    .agg(
      pl.col("messages").count().alias("records"),
      pl.col("messages").mean().alias("messages per record"),
      pl.col("chars").mean().round(1).alias("mean chars"),
      pl.col("chars").max().alias("max chars"),
    )
    .sort("dataset"),
  { title: "Train splits by dataset" },
);
showTable(
  all
    .filter(pl.col("dataset").eq(pl.lit("coffee-qa")))
    .select("first_user", "last_assistant", "chars")
    .head(5),
  {
    title: "coffee-qa: first records",
    maxCellChars: 120,
  },
);
showTable(
  all
    .groupBy("dataset", "roles")
    .agg(pl.col("messages").count().alias("records"))
    .sort("records", true)
    .head(12),
  {
    title: "Role sequences (conversational mode adds longer histories and windows)",
  },
);

// %% [markdown]
// ## Token lengths
//
// Lengths in tokens with the base model's tokenizer and chat template; the dashed line is the
// training sequence length.

// %% Length histogram
import { lengthHistogram } from "../dist/data/index.js";

const lengthSeries = [];
for (const p of prepared) {
  const records = await readRecords(path.join(p.dir, "train.jsonl"));
  lengthSeries.push({ name: p.name, values: records.map(measure) });
}
showPlot(
  lengthHistogram(lengthSeries, {
    title: "Tokens per training record",
    unit: "tokens per record",
    bins: 30,
    limit: { value: settings.maxSeq, label: `maxSeq ${settings.maxSeq}` },
  }),
);

// %% [markdown]
// ## Examples
//
// A few converted records, one coloured block per message.

// %% Examples table
import { examplesTable } from "../dist/data/index.js";

for (const p of prepared.filter((x) => x.name === "first-aid" || x.name === "chat-conversational")) {
  const records = await readRecords(path.join(p.dir, "train.jsonl"));
  showMarkdown(`**${p.name}** (${records.length} train records)`);
  displayBundle({
    "text/html": examplesTable(records, { limit: 3, maxChars: 240 }),
    "text/plain": `${p.name}: ${records.length} records`,
  });
}

// %% [markdown]
// ## The loss mask
//
// Training computes the loss only on assistant turns: the answer and the template's end-of-turn
// marker (highlighted in red). The prompt, the user's question and any system text are context only.

// %% Mask view
const coffeeRecords = await readRecords(path.join(prepared[0]!.dir, "train.jsonl"));
const shortest = [...coffeeRecords].sort((a, b) => measure(a) - measure(b))[0]!;
const view = maskView(shortest, text, settings.maxSeq);
showMarkdown(
  `${view.tokens} tokens, ${view.trainedTokens} trained (${((100 * view.trainedTokens) / view.tokens).toFixed(0)} %).`,
);
displayBundle({ "text/html": view.html, "text/plain": view.text });

// %% [markdown]
// ## Hand over
//
// `text-data.json` tells 05 and 06 where the prepared data is; 06 trains on the coffee Q&A.

// %% Write text-data.json
const written = writeRunJson("text-data.json", {
  baseModel: base.path,
  maxSeq: settings.maxSeq,
  datasets: prepared.map((p) => ({
    name: p.name,
    format: p.format,
    mode: p.mode,
    dir: p.dir,
    train: path.join(p.dir, "train.jsonl"),
    eval: path.join(p.dir, "eval.jsonl"),
    counts: p.report.counts,
  })),
  training: "coffee-qa",
});
showMarkdown(`Wrote \`${written}\`.`);
