// train, estimate, bench train.
import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { BACKWARD_COPIES, resolveTrainConfig, type TrainConfig } from "../../train/config.js";
import { train } from "../../train/trainer.js";
import { estimateRun } from "../../train/estimate.js";
import { benchTrain } from "../../train/bench.js";
import type { GraphProfile } from "../../engine/profile.js";
import { InputError } from "../../util/errors.js";
import { action, emit, num, type CommonOptions } from "../output.js";

/** Flags that override config-file fields (commander camel-cases them to the field names). */
const FLAGS: Array<[string, string, boolean]> = [
  ["--model <file>", "base model GGUF", false],
  ["--data <file>", 'training data: prepared messages JSONL or {"text"} JSONL', false],
  ["--eval-data <file>", "evaluation data (same formats)", false],
  ["--out <dir>", "run folder", false],
  ["--method <m>", "lora (default) | full (every tensor, f32)", false],
  ["--lora-r <n>", "LoRA rank", true],
  ["--lora-alpha <a>", "LoRA alpha", true],
  ["--lora-dropout <p>", "LoRA dropout", true],
  ["--dora", "DoRA: LoRA plus a trained magnitude per output row (writes merged.gguf + PEFT files)", false],
  [
    "--target <spec>",
    "target modules: all-linear | q,k,v,o,gate,up,down | /regex/ (with --mmproj also: vision, v.blk.N.attn_q)",
    false,
  ],
  [
    "--mmproj <file>",
    "vision tower (mmproj GGUF): image+text fine-tuning on image records; the run also writes mmproj.gguf",
    false,
  ],
  ["--train-projector", "with --mmproj: train the projector (mm.*) in full", false],
  ["--quantize-base <t>", "frozen base: none | q8_0 | q4_k | q4_0", false],
  [
    "--backward-copy <t>",
    "transposed copies for the backward: auto | f16 | bf16 (fast with AVX512_BF16) | f32",
    false,
  ],
  ["--epochs <n>", "epochs", true],
  ["--max-steps <n>", "stop after N optimizer steps", true],
  ["--batch <n>", "sequences per micro-batch", true],
  ["--grad-accum <n>", "micro-batches per optimizer step", true],
  ["--max-seq <n>", "tokens per sequence", true],
  ["--lr <x>", "peak learning rate", true],
  ["--scheduler <s>", "constant | linear | cosine", false],
  ["--warmup <x>", "warmup: fraction (<1) or steps", true],
  ["--weight-decay <x>", "AdamW weight decay", true],
  ["--optim <name>", "adamw (f32 moments) | adamw_8bit (block-wise 8-bit moments)", false],
  ["--max-grad-norm <x>", "gradient clipping (0: off)", true],
  ["--neftune-alpha <x>", "NEFTune noise alpha (0: off)", true],
  ["--eval-every <n>", "evaluate every N steps", true],
  ["--save-every <n>", "checkpoint every N steps", true],
  ["--keep-best <n>", "keep the N best checkpoints by eval loss", true],
  ["--early-stopping <n>", "stop after N evaluations without improvement", true],
  ["--seed <n>", "seed", true],
  ["--threads <n>", "CPU threads", true],
];

function addTrainFlags(cmd: Command): Command {
  for (const [flag, help, numeric] of FLAGS) {
    if (numeric) cmd.option(flag, help, num(flag.split(" ")[0]));
    else cmd.option(flag, help);
  }
  return cmd
    .option("--config <file>", "JSON config (recipes/*.json); flags override it")
    .option("--json", "machine-readable output");
}

type Flags = CommonOptions & Record<string, unknown> & { config?: string; resume?: string };

function overrides(o: Flags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag] of FLAGS) {
    const key = flag
      .split(" ")[0]
      .slice(2)
      .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (o[key] !== undefined) out[key] = o[key];
  }
  return out;
}

export function register(program: Command): void {
  addTrainFlags(
    program
      .command("train")
      .description(
        "LoRA fine-tuning on tunekit's engine; writes a run folder (adapter.gguf, PEFT files, metrics, checkpoints)",
      )
      .option("--resume <run>", "continue the run in this folder from its last checkpoint"),
  ).action(
    action(async (o: Flags) => {
      const resume = o.resume !== undefined;
      const cfg = resume
        ? resolveTrainConfig(`${o.resume}/config.json`, { ...overrides(o), out: o.resume })
        : resolveTrainConfig(o.config, overrides(o));
      const bar =
        o.json || !process.stderr.isTTY
          ? undefined
          : new SingleBar(
              { format: "{bar} {value}/{total} steps | loss {loss} | {tps} tok/s | eval {eval}" },
              Presets.shades_classic,
            );
      let lastEval = "-";
      const r = await train(
        cfg,
        {
          onStart: (s) => bar?.start(s.totalSteps, s.resumedAt, { loss: "-", tps: "-", eval: lastEval }),
          onLog: (row) => {
            if (bar)
              bar.update(row.step, {
                loss: row.loss.toFixed(4),
                tps: row.tokens_per_s.toFixed(0),
                eval: lastEval,
              });
            else if (!o.json)
              process.stderr.write(
                `step ${row.step}: loss ${row.loss.toFixed(4)}, lr ${row.lr.toExponential(2)}, ${row.tokens_per_s.toFixed(0)} tokens/s\n`,
              );
          },
          onEval: (e) => {
            lastEval = e.eval_loss.toFixed(4);
            if (!bar && !o.json) process.stderr.write(`step ${e.step}: eval loss ${lastEval}\n`);
          },
        },
        resume,
      );
      bar?.stop();
      emit(r, o, (x) =>
        [
          `run: ${x.runDir} (${x.steps} steps${x.stoppedEarly ? ", stopped early" : ""})`,
          `train loss ${x.finalLoss.toFixed(4)}` +
            (x.finalEvalLoss !== null
              ? `, eval loss ${x.baseEvalLoss?.toFixed(4) ?? "?"} → ${x.finalEvalLoss.toFixed(4)}`
              : ""),
          cfg.dora
            ? `merged model (DoRA, which llama.cpp adapters cannot hold): ${x.adapterPath} (+ PEFT adapter_config.json, adapter_model.safetensors)`
            : cfg.method === "full"
              ? `model: ${x.adapterPath}`
              : `adapter: ${x.adapterPath} (+ adapter_config.json, adapter_model.safetensors)`,
        ].join("\n"),
      );
    }),
  );

  addTrainFlags(
    program
      .command("estimate")
      .description("time and memory of a training run on this machine, from a few measured steps"),
  ).action(
    action(async (o: Flags) => {
      const cfg = resolveTrainConfig(o.config, overrides(o));
      const e = await estimateRun(cfg);
      emit(e, o, (x) =>
        [
          `${x.trainRows} rows × ${x.epochs} epochs = ${x.totalSteps} steps of ${x.tokensPerStep} tokens`,
          `measured ${x.secondsPerStep.toFixed(2)} s/step (${x.tokensPerSecond.toFixed(0)} tokens/s) → about ${(x.totalSeconds / 3600).toFixed(2)} h`,
          `memory: weights ${(x.memory.weightsBytes / 2 ** 20).toFixed(0)} MiB, activations ~${(x.memory.activationBytes / 2 ** 20).toFixed(0)} MiB, adapter+optimizer ${(x.memory.adapterBytes / 2 ** 20).toFixed(1)} MiB`,
        ].join("\n"),
      );
    }),
  );

  // `bench` is created by the engine module (bench matmul); train adds its own subcommand to it.
  const bench =
    program.commands.find((c) => c.name() === "bench") ??
    program.command("bench").description("Micro-benchmarks");
  bench
    .command("train")
    .description("LoRA training step speed on random tokens")
    .requiredOption("--model <file>", "GGUF model")
    .option("--seq <n>", "tokens per sequence", num("--seq"), 256)
    .option("--batch <n>", "sequences", num("--batch"), 4)
    .option("--lora-r <n>", "rank", num("--lora-r"), 16)
    .option("--quantize-base <t>", "none | q8_0 | q4_k", "none")
    .option("--backward-copy <t>", "auto | f16 | bf16 | f32", "auto")
    .option("--threads <n>", "threads", num("--threads"), 0)
    .option("--steps <n>", "measured steps", num("--steps"), 3)
    .option("--profile", "also time one step node by node and show where the time goes")
    .option("--json", "machine-readable output")
    .action(
      action(
        async (
          o: CommonOptions & {
            model: string;
            seq: number;
            batch: number;
            loraR: number;
            quantizeBase: string;
            backwardCopy: string;
            threads: number;
            steps: number;
            profile?: boolean;
          },
        ) => {
          if (!["none", "q8_0", "q4_k"].includes(o.quantizeBase))
            throw new InputError(`--quantize-base must be none, q8_0 or q4_k`);
          if (!(BACKWARD_COPIES as readonly string[]).includes(o.backwardCopy))
            throw new InputError(`--backward-copy must be one of ${BACKWARD_COPIES.join(", ")}`);
          const r = await benchTrain({
            ...o,
            quantizeBase: o.quantizeBase as "none" | "q8_0" | "q4_k",
            backwardCopy: o.backwardCopy as TrainConfig["backwardCopy"],
          });
          emit(
            r,
            o,
            (x) =>
              `${x.tokens_per_s.toFixed(0)} tokens/s (${x.ms_per_step.toFixed(0)} ms/step, ${x.tokens_per_step} tokens/step)` +
              (x.profile ? "\n" + renderProfile(x.profile) : ""),
          );
        },
      ),
    );
}

function renderProfile(p: GraphProfile): string {
  const pct = (ms: number) => `${((100 * ms) / p.totalMs).toFixed(1).padStart(5)}%`;
  return [
    `one step node by node: ${p.totalMs.toFixed(0)} ms`,
    ...p.byOp.map(
      (o) =>
        `  ${o.op.padEnd(28)} ${String(o.count).padStart(5)} ${o.ms.toFixed(1).padStart(9)} ms ${pct(o.ms)}`,
    ),
    "slowest nodes:",
    ...p.top.map((n) => `  ${n.ms.toFixed(2).padStart(8)} ms  ${n.op.padEnd(24)} ${n.shape}  ${n.name}`),
  ].join("\n");
}
