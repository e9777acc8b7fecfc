// Notebook 08-vision executed in real Jupyter (tslab) in fast mode through `tunekit notebooks run`: it must
// train, show before/after accuracy and the two confusion-matrix heatmaps, and write vision.json.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

const jupyter =
  spawnSync("/usr/bin/python3", ["-m", "nbconvert", "--version"], { encoding: "utf8" }).status === 0;
const skip = !jupyter && "Jupyter (Debian's jupyter-nbconvert) is not installed; .ci/run installs it";

test(
  "notebook 08-vision runs in Jupyter: loss chart, accuracy table, confusion heatmaps, vision.json",
  { skip, timeout: 600_000 },
  () => {
    const tmp = mkdtempSync(join(tmpdir(), "tunekit-nbvision-"));
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
        "08",
        "--out",
        out,
        "--run-dir",
        runDir,
        "--json",
      ],
      {
        cwd: PACKAGE_ROOT,
        encoding: "utf8",
        timeout: 600_000,
        env: { ...process.env, TUNEKIT_NOTEBOOK_FAST: "1" },
      },
    );
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    const nb = JSON.parse(readFileSync(join(out, "08-vision.ipynb"), "utf8")) as {
      cells: Array<{ cell_type: string; outputs?: Array<{ data?: Record<string, unknown> }> }>;
    };
    const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
    const plots = outputs
      .map((o) => o.data?.["application/vnd.plotly.v1+json"])
      .filter(Boolean)
      .map((p) => (typeof p === "string" ? JSON.parse(p) : p) as { data: Array<{ type: string }> });
    assert.ok(
      plots.filter((p) => p.data[0]?.type === "heatmap").length >= 2,
      "two confusion-matrix heatmaps",
    );
    assert.ok(
      outputs.some((o) => String(o.data?.["text/html"] ?? "").includes("fine-tuned")),
      "accuracy table",
    );
    const vision = JSON.parse(readFileSync(join(runDir, "vision.json"), "utf8")) as {
      accuracyAfter: number;
      matrix: number[][];
    };
    assert.ok(vision.accuracyAfter >= 0 && vision.accuracyAfter <= 1);
    assert.ok(vision.matrix.length >= 2);
    assert.ok(existsSync(join(runDir, "vision", "run", "mmproj.gguf")));
  },
);
