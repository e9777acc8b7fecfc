// Executes the notebooks headless in real Jupyter: nbclient (the engine behind `nbconvert --execute`)
// drives the tslab kernel, cell by cell, in a fresh kernel per notebook, in order. Any cell error
// (a TypeScript compile error, an exception, a dead kernel, a timeout) fails the notebook; the executed
// notebook is written either way, so its outputs show what happened.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { tempPathFor } from "../util/atomic.js";
import { TunekitError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";
import { ensureDistBuilt, type DistBuildStatus } from "./build-dist.js";
import { ensureTslabKernel, pythonEnv, requireJupyterPython, type TslabKernelStatus } from "./jupyter.js";
import { RUN_DIR_ENV } from "./run-folder.js";

/** Options of {@link runNotebooks}. */
export interface RunNotebooksOptions {
  /** Folder with the NN-name.ipynb notebooks (default: the package's notebooks/). */
  notebooksDir?: string;
  /** Where the executed notebooks are written (default: <package>/runs/notebooks). */
  outDir?: string;
  /** Run only notebooks whose file name starts with one of these ("02", "02-text"); default: all. */
  only?: string[];
  /** Time limit per notebook in seconds, across all its cells (default 1200). */
  timeoutSeconds?: number;
  /** Python with Jupyter (default: found by findJupyterPython). */
  python?: string;
  /** Run folder the notebooks hand results through (sets TUNEKIT_NOTEBOOK_RUN_DIR for the kernels). */
  runDir?: string;
  /** Rebuild dist/ first when lib/ is newer (default true). */
  build?: boolean;
  /** Go on with the next notebooks after a failure (default false: later notebooks read earlier results). */
  keepGoing?: boolean;
  /** Called when a notebook starts and when it ends. */
  onProgress?: (event: { phase: "start" | "end"; notebook: string; result?: NotebookResult }) => void;
}

/** Time one cell took. */
export interface CellTiming {
  /** 0-based index among all cells. */
  index: number;
  seconds: number;
}

/** The outcome of one notebook. */
export interface NotebookResult {
  /** File name, e.g. "01-setup.ipynb". */
  notebook: string;
  ok: boolean;
  /** Wall time including kernel start, seconds. */
  seconds: number;
  /** The executed notebook (written also when a cell failed). */
  output: string;
  /** The failing cell's 0-based index and what it printed, when a cell failed. */
  failedCell?: number;
  error?: string;
  /** Per code cell execution times. */
  cells: CellTiming[];
}

/** The outcome of a run. */
export interface NotebooksRunReport {
  ok: boolean;
  python: string;
  kernel: TslabKernelStatus;
  build: DistBuildStatus;
  outDir: string;
  notebooks: NotebookResult[];
  /** Notebooks not run because an earlier one failed. */
  skipped: string[];
  totalSeconds: number;
}

// The Python side: nbclient with a per-notebook deadline (each cell gets the time that is left), hooks
// that time the cells and remember the failing one, and the executed notebook written in every case.
// The last stdout line is a JSON summary.
const EXECUTE_PY = String.raw`
import json, re, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

src, dst, kernel, budget, cwd = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
nb = nbformat.read(src, as_version=4)
deadline = time.monotonic() + budget
started, cells, failed = {}, [], {}

def on_start(cell, cell_index, **kw):
    started[cell_index] = time.monotonic()

def on_done(cell, cell_index, **kw):
    cells.append({"index": cell_index, "seconds": round(time.monotonic() - started.get(cell_index, time.monotonic()), 3)})

def on_error(cell, cell_index, **kw):
    failed["index"] = cell_index

client = NotebookClient(
    nb, kernel_name=kernel, startup_timeout=120,
    timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
    resources={"metadata": {"path": cwd}},
    on_cell_start=on_start, on_cell_executed=on_done, on_cell_error=on_error)
error = None
try:
    client.execute()
except CellTimeoutError as e:
    error = "timed out (the notebook's time limit is %d s): %s" % (budget, str(e).strip()[-500:])
except CellExecutionError as e:
    error = None  # taken from the failing cell's outputs below
    failed.setdefault("message", str(e))
except DeadKernelError as e:
    error = "the kernel died: %s" % e
if "index" in failed and error is None:
    parts = []
    for out in nb.cells[failed["index"]].get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append("%s: %s\n%s" % (out.get("ename"), out.get("evalue"), "\n".join(out.get("traceback", []))))
    error = re.sub(r"\x1b\[[0-9;]*m", "", "".join(parts)).strip() or failed.get("message", "cell failed")
elif error is None and "message" in failed:
    error = failed["message"]
nbformat.write(nb, dst)
print("TUNEKIT_RESULT " + json.dumps({"ok": error is None, "error": error, "failedCell": failed.get("index"), "cells": cells}))
`;

/** The notebooks in `dir` (NN-name.ipynb), in order, filtered by `only` prefixes. */
export function listNotebooks(dir: string, only?: string[]): string[] {
  if (!existsSync(dir)) throw new TunekitError(`${dir} does not exist`);
  const all = readdirSync(dir)
    .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
    .sort();
  if (!only || only.length === 0) return all;
  const picked = all.filter((f) => only.some((p) => f.startsWith(p)));
  if (picked.length === 0)
    throw new TunekitError(`--only ${only.join(",")} matches none of: ${all.join(", ") || "(no notebooks)"}`);
  return picked;
}

/** Executes one notebook; resolves with its result (never rejects for cell errors). */
function executeNotebook(
  python: string,
  notebookPath: string,
  outputPath: string,
  timeoutSeconds: number,
  env: NodeJS.ProcessEnv,
): Promise<Omit<NotebookResult, "notebook" | "seconds" | "output">> {
  const tmp = tempPathFor(outputPath);
  const args = [
    "-c",
    EXECUTE_PY,
    notebookPath,
    tmp,
    "tslab",
    String(timeoutSeconds),
    resolve(notebookPath, ".."),
  ];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // nbclient enforces the deadline per cell; this only guards against a hung Python (kernel start, shutdown).
    const guard = setTimeout(() => child.kill("SIGKILL"), (timeoutSeconds + 180) * 1000);
    child.on("error", (err) => {
      clearTimeout(guard);
      reject(new TunekitError(`could not start ${python}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      const line = stdout.split("\n").find((l) => l.startsWith("TUNEKIT_RESULT "));
      // A notebook that produced no output must not leave an older run's output looking current.
      if (existsSync(tmp)) renameSync(tmp, outputPath);
      else rmSync(outputPath, { force: true });
      if (!line) {
        resolvePromise({
          ok: false,
          error: `notebook execution failed (exit ${code ?? signal}): ${stderr.trim().slice(-3000)}`,
          cells: [],
        });
        return;
      }
      const r = JSON.parse(line.slice("TUNEKIT_RESULT ".length)) as {
        ok: boolean;
        error: string | null;
        failedCell: number | null;
        cells: CellTiming[];
      };
      resolvePromise({
        ok: r.ok,
        cells: r.cells,
        ...(r.error ? { error: r.error.slice(0, 4000) } : {}),
        ...(r.failedCell !== null ? { failedCell: r.failedCell } : {}),
      });
    });
  });
}

/**
 * Runs the notebooks in order in real Jupyter with the tslab kernel (registering it when needed) and
 * writes the executed notebooks to `outDir`. Stops after the first failing notebook unless `keepGoing`.
 */
export async function runNotebooks(options: RunNotebooksOptions = {}): Promise<NotebooksRunReport> {
  const t0 = performance.now();
  const notebooksDir = resolve(options.notebooksDir ?? join(PACKAGE_ROOT, "notebooks"));
  const outDir = resolve(options.outDir ?? join(PACKAGE_ROOT, "runs", "notebooks"));
  const timeoutSeconds = options.timeoutSeconds ?? 1200;
  const names = listNotebooks(notebooksDir, options.only);
  const python = requireJupyterPython(options.python);
  const kernel = ensureTslabKernel(python);
  const build = options.build === false ? { built: false, stale: [], seconds: 0 } : ensureDistBuilt();
  mkdirSync(outDir, { recursive: true });
  const env = pythonEnv(options.runDir ? { [RUN_DIR_ENV]: resolve(options.runDir) } : {});

  const results: NotebookResult[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    if (results.some((r) => !r.ok) && !options.keepGoing) {
      skipped.push(name);
      continue;
    }
    options.onProgress?.({ phase: "start", notebook: name });
    const started = performance.now();
    const output = join(outDir, basename(name));
    const r = await executeNotebook(python, join(notebooksDir, name), output, timeoutSeconds, env);
    const result: NotebookResult = {
      notebook: name,
      seconds: (performance.now() - started) / 1000,
      output,
      ...r,
    };
    results.push(result);
    options.onProgress?.({ phase: "end", notebook: name, result });
  }
  return {
    ok: results.every((r) => r.ok) && skipped.length === 0,
    python,
    kernel,
    build,
    outDir,
    notebooks: results,
    skipped,
    totalSeconds: (performance.now() - t0) / 1000,
  };
}
