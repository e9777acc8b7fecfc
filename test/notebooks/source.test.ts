import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { orphanNotebooks, planNotebookBuilds } from "../../lib/notebooks/build.js";
import { buildNotebook, parseNotebookSource } from "../../lib/notebooks/source.js";
import { InputError } from "../../lib/util/errors.js";

const SOURCE = [
  "// header comment: not part of the notebook",
  "",
  "// %% [markdown]",
  "// # Title",
  "//",
  "// Some *text*.",
  "",
  "// %% first code cell",
  "",
  "const x = 1;",
  "console.log(x);",
  "",
  "// %%",
  "x + 1",
].join("\n");

test("parses markdown and code cells, drops the header, titles and blank edges", () => {
  const cells = parseNotebookSource(SOURCE, "t.ts");
  assert.deepEqual(cells, [
    { type: "markdown", text: "# Title\n\nSome *text*.", line: 3 },
    { type: "code", text: "const x = 1;\nconsole.log(x);", line: 8 },
    { type: "code", text: "x + 1", line: 13 },
  ]);
});

test("rejects code in a markdown cell, code before the first marker and empty cells, naming the line", () => {
  assert.throws(
    () => parseNotebookSource("// %% [markdown]\n// ok\nconst y = 2;\n", "a.ts"),
    (e: unknown) => {
      return e instanceof InputError && e.message.startsWith("a.ts:3: ");
    },
  );
  assert.throws(() => parseNotebookSource("const y = 2;\n// %%\ny\n", "b.ts"), /b\.ts:1: code before/);
  assert.throws(() => parseNotebookSource("// %%\n\n// %%\ny\n", "c.ts"), /c\.ts:1: empty cell/);
  assert.throws(() => parseNotebookSource("// just a comment\n", "d.ts"), /d\.ts: no cells/);
});

test("builds nbformat 4.5 JSON for the tslab kernel with Jupyter's line-split sources", () => {
  const text = buildNotebook(parseNotebookSource(SOURCE, "t.ts"), {
    name: "09-demo",
    sourcePath: "notebooks/src/09-demo.ts",
  });
  const nb = JSON.parse(text);
  assert.equal(nb.nbformat, 4);
  assert.equal(nb.nbformat_minor, 5);
  assert.deepEqual(nb.metadata.kernelspec, {
    display_name: "TypeScript",
    language: "typescript",
    name: "tslab",
  });
  assert.deepEqual(nb.cells[1].source, ["const x = 1;\n", "console.log(x);"]);
  assert.deepEqual(
    nb.cells.map((c: { id: string }) => c.id),
    ["09-demo-01", "09-demo-02", "09-demo-03"],
  );
  assert.equal(nb.cells[1].execution_count, null);
  assert.deepEqual(nb.cells[1].outputs, []);
  assert.ok(text.endsWith("}\n"));
});

const python = "/usr/bin/python3";
const hasNbformat = spawnSync(python, ["-c", "import nbformat"], { stdio: "ignore" }).status === 0;

test(
  "Jupyter's own nbformat validator accepts the generated notebooks",
  { skip: !hasNbformat && `${python} cannot import nbformat (apt-get install python3-nbformat)` },
  () => {
    const dir = mkdtempSync(join(tmpdir(), "tunekit-nb-"));
    const files = [join(dir, "demo.ipynb")];
    writeFileSync(
      files[0]!,
      buildNotebook(parseNotebookSource(SOURCE, "t.ts"), { name: "demo", sourcePath: "x" }),
    );
    files.push(...planNotebookBuilds().map((b) => b.notebookPath));
    const code =
      "import sys, nbformat\nfor f in sys.argv[1:]:\n    nbformat.validate(nbformat.read(f, as_version=4))\nprint('valid')";
    const r = spawnSync(python, ["-c", code, ...files], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "valid");
  },
);

test("every committed notebook is generated from its source and up to date", () => {
  const builds = planNotebookBuilds();
  assert.ok(
    builds.some((b) => b.name === "01-setup"),
    "notebooks/src/01-setup.ts is missing",
  );
  const stale = builds.filter((b) => !b.upToDate).map((b) => b.name);
  assert.deepEqual(
    stale,
    [],
    `out of date with notebooks/src (run: npx tsx scripts/build-notebooks.ts): ${stale.join(", ")}`,
  );
  assert.deepEqual(orphanNotebooks(), [], "notebooks/*.ipynb without a source in notebooks/src");
});
