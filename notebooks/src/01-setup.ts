// Source of notebooks/01-setup.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).
// Cells start at "// %%" lines; tslab compiles each cell on its own, so cells import the compiled
// library from ../dist (relative to notebooks/, where the .ipynb lives).

// %% [markdown]
// # 01 · Setup
//
// This notebook shows the machine tunekit runs on, lists the sample datasets shipped in `data/`,
// takes a first look at two of them with [nodejs-polars](https://github.com/pola-rs/nodejs-polars),
// and writes `runs/current/setup.json`, which the next notebooks read.
//
// Cells import tunekit from `../dist` — the compiled library that `npm install` builds
// (`npx tunekit notebooks run` rebuilds it when `lib/` is newer).

// %% Environment
import { formatBytes, systemInfo } from "../dist/notebooks/environment.js";
import { showImageRow, showMarkdown, showTable } from "../dist/notebooks/display.js";

const info = systemInfo();
showTable(
  [
    { item: "tunekit", value: info.tunekitVersion },
    { item: "Node.js", value: info.node },
    { item: "platform", value: `${info.platform} ${info.arch} (${info.os})` },
    { item: "CPU", value: info.cpuModel },
    { item: "logical CPUs", value: info.logicalCpus },
    {
      item: "memory",
      value: `${formatBytes(info.totalMemoryBytes)} total, ${formatBytes(info.freeMemoryBytes)} free`,
    },
    ...Object.entries(info.packages).map(([name, version]) => ({
      item: name,
      value: version ?? "not installed",
    })),
  ],
  { title: "Environment" },
);

// %% [markdown]
// ## Sample datasets
//
// Everything in `data/` was written for this repository (see `data/README.md`), so the notebooks run
// offline. The table is read from the files themselves.

// %% Datasets
import { listSampleDatasets, SAMPLE_DATA_DIR } from "../dist/notebooks/samples.js";

const datasets = listSampleDatasets();
showTable(
  datasets.map((d) => ({
    dataset: d.name,
    kind: d.kind,
    records: d.records,
    fields: d.fields.join(", "),
    size: formatBytes(d.bytes),
  })),
  { title: `Sample datasets in ${SAMPLE_DATA_DIR}` },
);

// %% [markdown]
// ## A first look with polars
//
// `coffee-qa.jsonl` holds Spanish questions and answers about coffee growing, with the column names of
// the original project (`preguntas`, `respuestas`). polars reads JSON Lines with `scanJson`.

// %% Coffee Q&A preview
import * as path from "node:path";
import pl from "nodejs-polars";

const coffee = pl.scanJson(path.join(SAMPLE_DATA_DIR, "coffee-qa.jsonl")).collectSync();
showMarkdown(
  `**coffee-qa.jsonl**: ${coffee.height} rows × ${coffee.width} columns (${coffee.columns.join(", ")})`,
);
showTable(coffee.head(5), { title: "First five rows" });
const lengths = coffee.select(
  pl.col("preguntas").str.lengths().alias("question_chars"),
  pl.col("respuestas").str.lengths().alias("answer_chars"),
);
showTable(lengths.describe(), { title: "Lengths in characters" });

// %% [markdown]
// The leaf images come with a `labels.csv` (`path,label`); one example per class:

// %% Leaf images
const labels = pl.readCSV(path.join(SAMPLE_DATA_DIR, "leaf-images", "labels.csv"));
const perClass = labels.groupBy("label").len().sort("label");
showTable(perClass, { title: "Images per class" });
showImageRow(
  perClass
    .getColumn("label")
    .toArray()
    .map((label: string) => ({
      path: path.join(SAMPLE_DATA_DIR, "leaf-images", label, "01.png"),
      caption: label,
    })),
  { width: 96 },
);

// %% [markdown]
// ## Hand over to the next notebooks
//
// `setup.json` in the run folder records the environment and the datasets.

// %% Write setup.json
import { writeRunJson } from "../dist/notebooks/run-folder.js";

const setupPath = writeRunJson("setup.json", {
  createdAt: new Date().toISOString(),
  system: info,
  dataDir: SAMPLE_DATA_DIR,
  datasets: datasets.map((d) => ({ name: d.name, kind: d.kind, records: d.records, path: d.path })),
});
showMarkdown(`Wrote \`${setupPath}\`.`);
