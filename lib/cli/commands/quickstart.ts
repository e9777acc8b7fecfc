// `npm start` = `tunekit quickstart`: the main job (lib/pipeline/main-job.ts) on the embedded default model
// and the Spanish coffee Q&A sample, or on a recipe (`npm start -- --recipe recipes/x.json`).
import type { Command } from "commander";
import { join } from "node:path";
import { getBackend } from "../../engine/backend.js";
import { findBinaryFolder } from "../../engine/binaries.js";
import { formatMainJobReport, runMainJob } from "../../pipeline/main-job.js";
import { action, emit, num, type CommonOptions } from "../output.js";

interface QuickstartOptions extends CommonOptions {
  out?: string;
  recipe?: string;
  maxSteps?: number;
  quant: string;
  evalLimit?: number;
  threads?: number;
}

export function register(program: Command): void {
  program
    .command("quickstart")
    .description(
      "the whole pipeline (prepare → LoRA → merge → quantize → before/after eval → report) on the embedded default, or on --recipe (what `npm start` runs)",
    )
    .option("--recipe <file>", "training config (recipes/*.json) whose model and prepared data are used")
    .option("--out <dir>", "job folder (default runs/quickstart, or runs/<recipe name>-job)")
    .option("--max-steps <n>", "stop training after N steps (a quick look)", num("--max-steps"))
    .option("--quant <types>", "llama.cpp types to quantize the merged model to", "Q8_0,Q4_0,Q4_K_M")
    .option("--eval-limit <n>", "answer only the first N eval prompts", num("--eval-limit"))
    .option("--threads <n>", "CPU threads for training", num("--threads"))
    .option("--json", "machine-readable output")
    .action(
      action(async (o: QuickstartOptions) => {
        const b = getBackend();
        const log = (m: string) => {
          if (!o.json) process.stderr.write(m + "\n");
        };
        log(`engine: ggml ${findBinaryFolder().flavor} on ${b.info.description}, ${b.threads} threads`);
        const name = o.recipe ? o.recipe.replace(/^.*[\\/]/, "").replace(/\.json$/i, "") : undefined;
        const report = await runMainJob({
          out: o.out ?? join("runs", name ? `${name}-job` : "quickstart"),
          ...(o.recipe ? { recipe: o.recipe } : {}),
          trainOverrides: {
            ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
            ...(o.threads !== undefined ? { threads: o.threads } : {}),
          },
          quantTypes: o.quant
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
          ...(o.evalLimit !== undefined ? { evalLimit: o.evalLimit } : {}),
          onProgress: log,
        });
        emit(report, o, (r) => formatMainJobReport(r));
      }),
    );
}
