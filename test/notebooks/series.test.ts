// Notebooks 02–05 executed in real Jupyter (tslab) in order, in fast mode, through `tunekit notebooks run`;
// the data notebooks must carry plotly charts and tables.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

const jupyter =
  spawnSync("/usr/bin/python3", ["-m", "nbconvert", "--version"], { encoding: "utf8" }).status === 0;
const skip = !jupyter && "Jupyter (Debian's jupyter-nbconvert) is not installed; .ci/run installs it";

interface Cell {
  cell_type: string;
  outputs?: Array<{ data?: Record<string, unknown> }>;
}

test(
  "notebooks 02–05 run top to bottom in Jupyter and show tables and plotly charts",
  { skip, timeout: 900_000 },
  (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "tunekit-nbseries-"));
    const out = join(tmp, "executed");
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "lib/cli/main.ts",
        "notebooks",
        "run",
        "--only",
        "02,03,04,05",
        "--out",
        out,
        "--run-dir",
        join(tmp, "run"),
        "--json",
      ],
      {
        cwd: PACKAGE_ROOT,
        encoding: "utf8",
        timeout: 900_000,
        env: { ...process.env, TUNEKIT_NOTEBOOK_FAST: "1" },
      },
    );
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    const report = JSON.parse(r.stdout) as {
      notebooks: Array<{ notebook: string; ok: boolean; seconds: number }>;
    };
    t.diagnostic(report.notebooks.map((n) => `${n.notebook} ${n.seconds.toFixed(1)} s`).join(", "));
    assert.deepEqual(
      report.notebooks.map((n) => n.ok),
      [true, true, true, true],
    );
    for (const [name, wantPlot] of [
      ["02-text.ipynb", true],
      ["03-function-calling.ipynb", false],
      ["04-images.ipynb", true],
      ["05-lora.ipynb", false],
    ] as const) {
      const path = join(out, name);
      assert.ok(existsSync(path), name);
      const cells = (JSON.parse(readFileSync(path, "utf8")) as { cells: Cell[] }).cells.filter(
        (c) => c.cell_type === "code",
      );
      const mimes = cells.flatMap((c) => (c.outputs ?? []).flatMap((o) => Object.keys(o.data ?? {})));
      assert.ok(mimes.includes("text/html"), `${name} shows a table`);
      if (wantPlot) assert.ok(mimes.includes("application/vnd.plotly.v1+json"), `${name} has a plotly chart`);
    }
  },
);
