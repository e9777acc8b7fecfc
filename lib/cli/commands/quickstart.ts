// `npm start`: runs the pipeline stages that exist today on the repository's own sample data, end to end,
// and says plainly which stages are still to come.
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { getBackend } from "../../engine/backend.js";
import { findBinaryFolder } from "../../engine/binaries.js";
import { prepareDataset } from "../../data/prepare.js";
import { readToolsFile } from "../../data/tools.js";
import { convertLlama2c } from "../../models/convert-llama2c.js";
import { generate } from "../../models/generate.js";
import { Model } from "../../models/model.js";
import { PACKAGE_ROOT, sharedDir } from "../../util/paths.js";
import { action, emit, type CommonOptions } from "../output.js";

const DATASETS = [
  { name: "coffee-qa", format: "qa", input: "data/coffee-qa.jsonl" },
  { name: "farm-function-calls", format: "function-calling", input: "data/farm-function-calls.jsonl", tools: "data/farm-tools.json" },
  { name: "first-aid", format: "instruction", input: "data/first-aid.jsonl" },
  { name: "chat-export", format: "chat-export", input: "data/chat-export" },
];

export function register(program: Command): void {
  program
    .command("quickstart")
    .description("run the available pipeline on the embedded sample data (what `npm start` runs)")
    .option("--out <dir>", "run folder", "runs/quickstart")
    .option("--json", "machine-readable output")
    .action(
      action(async (o: CommonOptions & { out: string }) => {
        const b = getBackend();
        const engine = { flavor: findBinaryFolder().flavor, device: b.info.description, threads: b.threads };
        const data = [];
        for (const d of DATASETS) {
          const r = await prepareDataset({
            format: d.format,
            input: join(PACKAGE_ROOT, d.input),
            outDir: join(o.out, "data", d.name),
            seed: 42,
            evalFraction: 0.1,
            ...(d.tools ? { tools: readToolsFile(join(PACKAGE_ROOT, d.tools)) } : {}),
          });
          data.push({ name: d.name, train: r.counts.train, eval: r.counts.eval, dir: join(o.out, "data", d.name) });
        }
        let sample: { model: string; text: string; tokensPerSecond: number } | undefined;
        const shared = sharedDir();
        if (shared && existsSync(join(shared, "models", "stories260K"))) {
          const out = join(o.out, "models", "stories260K.gguf");
          const src = join(shared, "models", "stories260K");
          await convertLlama2c({ checkpoint: join(src, "stories260K.bin"), tokenizer: join(src, "tok512.model"), out });
          const m = Model.load(out);
          try {
            const g = generate(m, "Once upon a time", { maxTokens: 40 });
            sample = { model: out, text: "Once upon a time" + g.text, tokensPerSecond: g.tokensPerSecond };
          } finally {
            m.dispose();
          }
        }
        const result = {
          engine,
          data,
          sample,
          notYet: ["LoRA fine-tuning (issue 5)", "merge, quantize, before/after evaluation (issue 6)", "embedded default model (issue 7)"],
        };
        emit(result, o, (r) =>
          [
            `engine: ggml ${r.engine.flavor} on ${r.engine.device}, ${r.engine.threads} threads`,
            ...r.data.map((d) => `data: ${d.name} → ${d.train} train / ${d.eval} eval records in ${d.dir}`),
            r.sample ? `model: ${r.sample.model}\n  ${JSON.stringify(r.sample.text)} (${r.sample.tokensPerSecond.toFixed(1)} tokens/s)` : "model: ../shared is absent, skipped",
            `not yet in this version: ${r.notYet.join("; ")}`,
          ].join("\n"),
        );
      }),
    );
}
