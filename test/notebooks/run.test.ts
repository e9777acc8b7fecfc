// Executes notebooks in real Jupyter (nbclient + the tslab kernel), as CI does. Needs Debian's
// jupyter-nbconvert/python3-nbclient/jupyter-client/python3-ipykernel, which .ci/run installs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runNotebooks, type NotebooksRunReport } from "../../lib/notebooks/run.js";
import { buildNotebook, parseNotebookSource } from "../../lib/notebooks/source.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

const nbconvert =
  spawnSync("/usr/bin/python3", ["-m", "nbconvert", "--version"], { stdio: "ignore" }).status === 0;
const skip =
  !nbconvert &&
  "/usr/bin/python3 -m nbconvert is missing (apt-get install jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel)";

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  metadata?: Record<string, unknown>;
}
interface Notebook {
  cells: Array<{ cell_type: string; outputs?: Output[] }>;
}
const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join("") : (v ?? ""));
const outputsOf = (nb: Notebook) =>
  nb.cells.filter((c) => c.cell_type === "code").map((c) => c.outputs ?? []);

test(
  "`tunekit notebooks run --only 01` executes 01-setup in Jupyter and hands setup.json on",
  { skip },
  (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "tunekit-nbrun-"));
    const out = join(tmp, "executed");
    const runDir = join(tmp, "run");
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "lib/cli/main.ts",
        "notebooks",
        "run",
        "--only",
        "01",
        "--out",
        out,
        "--run-dir",
        runDir,
        "--json",
      ],
      { cwd: PACKAGE_ROOT, encoding: "utf8", timeout: 600_000 },
    );
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as NotebooksRunReport;
    assert.deepEqual(
      report.notebooks.map((n) => [n.notebook, n.ok]),
      [["01-setup.ipynb", true]],
    );
    assert.ok(report.notebooks[0]!.seconds > 0);
    t.diagnostic(
      `01-setup executed in ${report.notebooks[0]!.seconds.toFixed(1)} s (total ${report.totalSeconds.toFixed(1)} s)`,
    );

    // The executed notebook: no errors, every code cell produced output, the dataset table is there.
    const nb = JSON.parse(readFileSync(join(out, "01-setup.ipynb"), "utf8")) as Notebook;
    const outputs = outputsOf(nb);
    assert.ok(
      outputs.every((o) => o.length > 0),
      "every code cell shows something",
    );
    assert.ok(
      !outputs.flat().some((o) => o.output_type === "error" || o.name === "stderr"),
      "no error output",
    );
    const html = outputs
      .flat()
      .map((o) => joined(o.data?.["text/html"]))
      .join("\n");
    assert.match(
      html,
      /<td style="text-align:left">coffee-qa\.jsonl<\/td><td style="text-align:left">jsonl<\/td><td style="text-align:right">62<\/td>/,
    );
    // The leaf image row embeds the PNG files byte for byte.
    const png = readFileSync(join(PACKAGE_ROOT, "data", "leaf-images", "rust", "01.png")).toString("base64");
    assert.ok(html.includes(`data:image/png;base64,${png}`));

    // setup.json: checked against facts this test reads itself.
    const setup = JSON.parse(readFileSync(join(runDir, "setup.json"), "utf8"));
    assert.equal(setup.system.node, process.version);
    assert.equal(setup.system.logicalCpus, cpus().length);
    const byName = new Map<string, { records: number }>(
      setup.datasets.map((d: { name: string; records: number }) => [d.name, d]),
    );
    for (const f of ["coffee-qa.jsonl", "farm-function-calls.jsonl", "first-aid.jsonl"]) {
      const lines = readFileSync(join(PACKAGE_ROOT, "data", f), "utf8")
        .split("\n")
        .filter((l) => l.trim()).length;
      assert.equal(byName.get(f)?.records, lines, f);
    }
  },
);

/** Writes notebooks made from `sources` (name → notebook source text) into a fresh folder. */
function notebookFolder(sources: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "tunekit-nbsrc-"));
  for (const [name, src] of Object.entries(sources))
    writeFileSync(
      join(dir, `${name}.ipynb`),
      buildNotebook(parseNotebookSource(src, name), { name, sourcePath: name }),
    );
  return dir;
}

test(
  "display helpers send rich bundles from a kernel; exceptions and type errors fail their notebook",
  { skip },
  async (t) => {
    const display = JSON.stringify(join(PACKAGE_ROOT, "dist", "notebooks", "display.js"));
    const png = join(PACKAGE_ROOT, "data", "leaf-images", "healthy", "03.png");
    const fig = {
      data: [{ type: "scatter", name: "loss", x: [1, 2, 3], y: [2.5, 1.5, 1.25] }],
      layout: { title: { text: "Loss" } },
    };
    const dir = notebookFolder({
      "01-display": [
        "// %%",
        `import { inNotebook, showImage, showMarkdown, showPlot } from ${display};`,
        "console.log(inNotebook());",
        `showPlot(${JSON.stringify(fig)});`,
        `showPlot(${JSON.stringify(fig)});`,
        `showImage(${JSON.stringify(png)}, { width: 128 });`,
        'showMarkdown("**done**");',
      ].join("\n"),
      "02-throws": [
        "// %%",
        'console.log("before");',
        "// %%",
        'throw new Error("boom from a cell");',
        "// %%",
        'console.log("never");',
      ].join("\n"),
      "03-type-error": ["// %%", 'const n: number = "text";'].join("\n"),
    });
    const out = join(dir, "executed");
    mkdirSync(out);
    const report = await runNotebooks({
      notebooksDir: dir,
      outDir: out,
      keepGoing: true,
      timeoutSeconds: 300,
    });
    const [ok, throws, typeError] = report.notebooks;
    assert.equal(report.ok, false);
    assert.equal(ok!.ok, true, ok!.error);
    t.diagnostic(`kernel start + 1 cell: ${ok!.seconds.toFixed(1)} s`);

    const outputs = outputsOf(JSON.parse(readFileSync(ok!.output, "utf8")) as Notebook)[0]!;
    assert.equal(joined(outputs[0]!.text).trim(), "true");
    const [plot1, plot2, image, md] = outputs.slice(1);
    assert.deepEqual(JSON.parse(joined(plot1!.data!["application/vnd.plotly.v1+json"])), {
      ...fig,
      config: {},
    });
    assert.ok(joined(plot1!.data!["text/html"]).length > 1_000_000, "the first chart carries plotly.js");
    assert.ok(joined(plot2!.data!["text/html"]).length < 10_000, "later charts reuse it");
    assert.equal(joined(image!.data!["image/png"]).replace(/\n/g, ""), readFileSync(png).toString("base64"));
    assert.deepEqual(image!.metadata, { "image/png": { width: 128 } });
    assert.equal(joined(md!.data!["text/markdown"]), "**done**");

    assert.equal(throws!.ok, false);
    assert.equal(throws!.failedCell, 1);
    assert.match(throws!.error!, /boom from a cell/);
    const thrown = outputsOf(JSON.parse(readFileSync(throws!.output, "utf8")) as Notebook);
    assert.equal(joined(thrown[0]![0]!.text).trim(), "before");
    assert.deepEqual(thrown[2], [], "cells after the failure do not run");

    assert.equal(typeError!.ok, false);
    assert.match(typeError!.error!, /not assignable to type 'number'/);
  },
);
