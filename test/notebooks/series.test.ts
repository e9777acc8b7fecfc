// Notebooks 02–07 executed in real Jupyter (tslab) in order, in fast mode, through `tunekit notebooks run`;
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
  "notebooks 02–07 run top to bottom in Jupyter, show tables and plotly charts, and hand results on",
  { skip, timeout: 900_000 },
  (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "tunekit-nbseries-"));
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
        "02,03,04,05,06,07",
        "--out",
        out,
        "--run-dir",
        runDir,
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
      [true, true, true, true, true, true],
    );
    for (const [name, wantPlot] of [
      ["02-text.ipynb", true],
      ["03-function-calling.ipynb", false],
      ["04-images.ipynb", true],
      ["05-lora.ipynb", false],
      ["06-training.ipynb", true],
      ["07-export.ipynb", true],
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

    // 06: the resumed run continued the first one: metrics.jsonl has every step once, in order, and the
    // fast settings' step counts (6 + 3).
    const training = JSON.parse(readFileSync(join(runDir, "training.json"), "utf8")) as {
      runDir: string;
      steps: number;
      baseEvalLoss: number;
      finalEvalLoss: number;
    };
    assert.equal(training.steps, 9);
    const trainSteps = readFileSync(join(training.runDir, "metrics.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; step: number })
      .filter((r) => r.type === "train")
      .map((r) => r.step);
    assert.deepEqual(trainSteps, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(training.finalEvalLoss < training.baseEvalLoss, "a few LoRA steps lower the eval loss");

    // 07, checked by llama.cpp itself: the merged model scores like the base with the adapter applied at
    // load time, and differs from the base.
    const exported = JSON.parse(readFileSync(join(runDir, "export.json"), "utf8")) as {
      beforeAfter: Array<{ label: string; nll: number; klMean: number }>;
      quantized: Array<{ type: string; bytes: number }>;
    };
    const [base, withAdapter, merged] = exported.beforeAfter;
    assert.deepEqual(
      [base!.label, withAdapter!.label, merged!.label],
      ["base", "base + adapter", "merged f16"],
    );
    assert.ok(
      Math.abs(merged!.nll - withAdapter!.nll) < 0.01,
      `merged ${merged!.nll} vs adapter ${withAdapter!.nll}`,
    );
    assert.ok(withAdapter!.klMean > 0.001, "the adapter changes the model");
    assert.deepEqual(
      exported.quantized.map((q) => q.type),
      ["Q8_0", "Q4_K_M", "Q4_0"],
    );
  },
);
