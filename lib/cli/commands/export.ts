// `tunekit merge …`, `tunekit export-hf …`, `tunekit quantize …`, `tunekit imatrix …`: thin callers of lib/export.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Command } from "commander";
import { mergeAdapter, type MergeType } from "../../export/merge.js";
import { exportHfCheckpoint, type HfDtype } from "../../export/hf-checkpoint.js";
import { quantizeModel } from "../../export/quantize.js";
import { computeImatrix, saveImatrix } from "../../export/imatrix.js";
import { QUANT_TYPES } from "../../export/quant-recipe.js";
import { InputError } from "../../util/errors.js";
import { action, emit, num, type CommonOptions } from "../output.js";

interface MergeCliOptions extends CommonOptions {
  model: string;
  adapter: string;
  out: string;
  type: string;
  scale?: number;
}

interface ExportHfCliOptions extends CommonOptions {
  model: string;
  adapter?: string;
  out: string;
  dtype?: string;
  maxShardSize?: string;
  scale?: number;
}

/** "5GB", "2GiB", "500MB", "123456" → bytes (decimal units as transformers' max_shard_size, binary with "i"). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*$/i.exec(text);
  if (!m)
    throw new InputError(`size must look like 5GB, 2GiB or 500000000, got "${text}"`, {
      field: "--max-shard-size",
    });
  const unit = (m[2] ?? "").toUpperCase();
  const power = " KMGT".indexOf(unit[0] ?? " ");
  const bytes = Number(m[1]) * (unit.endsWith("I") ? 1024 : 1000) ** Math.max(power, 0);
  if (!Number.isSafeInteger(Math.round(bytes)) || bytes < 1)
    throw new InputError(`size "${text}" is not a positive number of bytes`, { field: "--max-shard-size" });
  return Math.round(bytes);
}

interface QuantizeCliOptions extends CommonOptions {
  in: string;
  out: string;
  type: string;
  imatrix?: string;
  allowRequantize?: boolean;
}

interface ImatrixCliOptions extends CommonOptions {
  model: string;
  text: string;
  out: string;
  chunk?: number;
  chunks?: number;
  format?: "gguf" | "dat";
}

const mib = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;
/** A file size with a unit that suits it. */
const size = (b: number) =>
  b < 1024
    ? `${b} B`
    : b < 1048576
      ? `${(b / 1024).toFixed(1)} KiB`
      : b < 1 << 30
        ? mib(b)
        : `${(b / 2 ** 30).toFixed(2)} GiB`;

export function register(program: Command): void {
  program
    .command("merge")
    .description("Merge a LoRA adapter (llama.cpp GGUF or PEFT folder) into its base model: W + s·B·A → GGUF")
    .requiredOption("--model <file>", "base model GGUF (a quantized base is dequantized first)")
    .requiredOption(
      "--adapter <path>",
      "LoRA adapter GGUF, or a PEFT folder (adapter_config.json + adapter_model.safetensors)",
    )
    .requiredOption("--out <file>", "merged model GGUF")
    .option("--type <type>", "type of the merged matrices: f32, f16 or bf16", "f16")
    .option("--scale <x>", "multiply the adapter's scale (default 1)", num("--scale"))
    .option("--json", "print JSON")
    .action(
      action(async (o: MergeCliOptions) => {
        const r = await mergeAdapter({
          model: o.model,
          adapter: o.adapter,
          out: o.out,
          type: o.type.toLowerCase() as MergeType,
          ...(o.scale !== undefined ? { scale: o.scale } : {}),
        });
        emit(r, o, (x) =>
          [
            `wrote ${x.out} (${mib(x.bytes)})`,
            `merged ${x.merged} matrices at scale ${x.scale.toPrecision(4)}, dequantized ${x.dequantized}, copied ${x.copied} tensors unchanged`,
          ].join("\n"),
        );
      }),
    );

  program
    .command("export-hf")
    .description(
      "Write a Hugging Face checkpoint folder (safetensors + config + tokenizer files) from a GGUF, merging a LoRA adapter first if given",
    )
    .requiredOption(
      "--model <file>",
      "model GGUF (llama, qwen2, qwen3, gemma, gemma2, gemma3; a quantized one is dequantized)",
    )
    .option("--adapter <path>", "LoRA adapter GGUF or PEFT folder to merge first")
    .requiredOption("--out <dir>", "checkpoint folder (replaced if it holds an earlier checkpoint)")
    .option(
      "--dtype <type>",
      "f32, f16 or bf16 (default: the model's matrix type; bf16 for a quantized model)",
    )
    .option("--max-shard-size <size>", 'largest safetensors shard, e.g. "2GB" (default 5GB, as transformers)')
    .option("--scale <x>", "multiply the adapter's scale (default 1)", num("--scale"))
    .option("--json", "print JSON")
    .action(
      action(async (o: ExportHfCliOptions) => {
        const r = await exportHfCheckpoint({
          model: o.model,
          out: o.out,
          ...(o.adapter ? { adapter: o.adapter } : {}),
          ...(o.dtype ? { dtype: o.dtype.toLowerCase() as HfDtype } : {}),
          ...(o.maxShardSize ? { maxShardBytes: parseByteSize(o.maxShardSize) } : {}),
          ...(o.scale !== undefined ? { scale: o.scale } : {}),
        });
        emit(r, o, (x) =>
          [
            `wrote ${x.out}: ${x.arch}, ${x.tensors} tensors in ${x.dtype}, ${x.shards.length} safetensors file(s), ${size(x.bytes)}`,
            ...(x.merged ? [`merged the adapter into ${x.merged} matrices`] : []),
            ...(x.dequantized ? [`dequantized ${x.dequantized} quantized tensors`] : []),
            ...x.files.map((f) => `  ${f.name.padEnd(36)} ${size(f.bytes).padStart(11)}`),
            ...x.warnings.map((w) => `warning: ${w}`),
          ].join("\n"),
        );
      }),
    );

  program
    .command("quantize")
    .description("Quantize a GGUF model with llama.cpp's file types and mixes")
    .requiredOption("--in <file>", "f32/f16/bf16 model GGUF")
    .requiredOption("--type <type>", `one of ${Object.keys(QUANT_TYPES).join(", ")}`)
    .requiredOption("--out <file>", "quantized model GGUF")
    .option("--imatrix <file>", "importance matrix (tunekit imatrix, or llama.cpp's imatrix GGUF / .dat)")
    .option("--allow-requantize", "allow quantizing tensors that are already quantized")
    .option("--json", "print JSON")
    .action(
      action(async (o: QuantizeCliOptions) => {
        const r = await quantizeModel({
          in: o.in,
          out: o.out,
          type: o.type,
          ...(o.imatrix ? { imatrix: o.imatrix } : {}),
          ...(o.allowRequantize ? { allowRequantize: true } : {}),
        });
        emit(r, o, (x) => {
          const counts = new Map<string, number>();
          for (const t of x.tensors) counts.set(t.to, (counts.get(t.to) ?? 0) + 1);
          return [
            `wrote ${x.out}: ${x.type} (general.file_type ${x.fileType}), ${mib(x.inBytes)} → ${mib(x.outBytes)}, ${x.bitsPerWeight.toFixed(2)} bits/weight`,
            `tensor types: ${[...counts].map(([t, n]) => `${t} ×${n}`).join(", ")}`,
            ...(x.fallbacks
              ? [`${x.fallbacks} tensors fell back to another type (rows not a multiple of the block size)`]
              : []),
            ...(x.imatrixTensors ? [`${x.imatrixTensors} tensors weighted by the importance matrix`] : []),
          ].join("\n");
        });
      }),
    );

  program
    .command("imatrix")
    .description(
      "Compute an importance matrix (mean squared activations per input column) from calibration text",
    )
    .requiredOption("--model <file>", "model GGUF (f32/f16/bf16 preferred)")
    .requiredOption("--text <file>", "calibration text file")
    .requiredOption("--out <file>", "output: .gguf (llama.cpp's imatrix GGUF) or .dat (legacy)")
    .option("--chunk <n>", "tokens per chunk (default 512)", num("--chunk"))
    .option("--chunks <n>", "use at most this many chunks", num("--chunks"))
    .option("--format <f>", "gguf or dat (default: from the file name)")
    .option("--json", "print JSON")
    .action(
      action(async (o: ImatrixCliOptions) => {
        let text: string;
        try {
          text = readFileSync(o.text, "utf8");
        } catch {
          throw new InputError("cannot read the calibration text", { file: o.text });
        }
        if (o.format && o.format !== "gguf" && o.format !== "dat")
          throw new InputError(`format must be gguf or dat, got "${o.format}"`, { field: "--format" });
        const m = computeImatrix({
          model: o.model,
          text,
          dataset: basename(o.text),
          ...(o.chunk ? { chunkTokens: o.chunk } : {}),
          ...(o.chunks ? { maxChunks: o.chunks } : {}),
        });
        await saveImatrix(o.out, m, o.format ?? (o.out.endsWith(".dat") ? "dat" : "gguf"));
        emit(
          { out: o.out, entries: m.data.size, chunks: m.chunkCount, chunkTokens: m.chunkSize },
          o,
          (x) => `wrote ${x.out}: ${x.entries} matrices, ${x.chunks} chunks of ${x.chunkTokens} tokens`,
        );
      }),
    );
}
