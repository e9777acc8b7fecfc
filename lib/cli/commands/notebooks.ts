// `tunekit notebooks run`: execute the notebooks headless in real Jupyter (tslab kernel).
import type { Command } from "commander";
import { runNotebooks, type NotebooksRunReport } from "../../notebooks/run.js";
import { action, emit, num, type CommonOptions } from "../output.js";

interface RunOptions extends CommonOptions {
  out?: string;
  only?: string;
  timeout?: number;
  runDir?: string;
  python?: string;
  build: boolean;
  keepGoing?: boolean;
}

function human(r: NotebooksRunReport): string {
  const lines = r.notebooks.map((n) => {
    const head = `${n.ok ? "ok  " : "FAIL"} ${n.notebook.padEnd(28)} ${n.seconds.toFixed(1).padStart(7)} s`;
    if (n.ok) return head;
    const where = n.failedCell !== undefined ? `cell ${n.failedCell + 1}: ` : "";
    return `${head}\n     ${where}${(n.error ?? "").split("\n").slice(0, 12).join("\n     ")}`;
  });
  for (const s of r.skipped) lines.push(`skip ${s} (an earlier notebook failed)`);
  const kernel = r.kernel.installed
    ? `registered the tslab kernel (${r.kernel.resourceDir})`
    : `tslab kernel: ${r.kernel.argv[0]}`;
  const build = r.build.built
    ? `rebuilt dist/ in ${r.build.seconds.toFixed(1)} s${r.build.typeErrors ? " (with type errors, see npm test)" : ""}; `
    : "";
  lines.push(
    `${build}${kernel}; Python ${r.python}`,
    `${r.notebooks.filter((n) => n.ok).length}/${r.notebooks.length + r.skipped.length} notebooks ok in ${r.totalSeconds.toFixed(1)} s; executed notebooks in ${r.outDir}`,
  );
  return lines.join("\n");
}

export function register(program: Command): void {
  const notebooks = program
    .command("notebooks")
    .description("Work with the tunekit notebooks (notebooks/*.ipynb)");
  notebooks
    .command("run")
    .description(
      "Execute every notebook in order, headless, in Jupyter with the tslab kernel; fail on any cell error",
    )
    .option(
      "--out <dir>",
      "where the executed notebooks are written (default: runs/notebooks in the package)",
    )
    .option(
      "--only <prefixes>",
      'only notebooks whose name starts with one of these, comma-separated ("02" or "01,02")',
    )
    .option("--timeout <seconds>", "time limit per notebook", num("--timeout"), 1200)
    .option(
      "--run-dir <dir>",
      "run folder the notebooks hand results through (default: runs/current in the package)",
    )
    .option("--python <path>", "Python with Jupyter (default: /usr/bin/python3, then python3)")
    .option("--no-build", "do not rebuild dist/ when lib/ is newer")
    .option("--keep-going", "run the remaining notebooks after a failure")
    .option("--json", "print one JSON document")
    .action(
      action(async (opts: RunOptions) => {
        const report = await runNotebooks({
          outDir: opts.out,
          only: opts.only
            ?.split(",")
            .map((s) => s.trim())
            .filter(Boolean),
          timeoutSeconds: opts.timeout,
          runDir: opts.runDir,
          python: opts.python,
          build: opts.build,
          keepGoing: opts.keepGoing,
          onProgress: opts.json
            ? undefined
            : (e) => {
                if (e.phase === "start") process.stderr.write(`running ${e.notebook} …\n`);
              },
        });
        emit(report, opts, human);
        if (!report.ok) process.exitCode = 1;
      }),
    );
}
