// Model commands: `tunekit new-model` (random weights for any supported architecture).
import type { Command } from "commander";
import { newModelGguf, type NewModelResult } from "../../models/new-model.js";
import { action, emit, num } from "../output.js";
import { InputError } from "../../util/errors.js";
import type { CommonOptions } from "../output.js";

interface NewModelCliOptions extends CommonOptions {
  arch: string;
  dim?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  ffn?: number;
  vocab?: number;
  slidingWindow?: number;
  tokenizerFrom?: string;
  seed: number;
  out: string;
  type?: "f32" | "f16";
  vision?: boolean;
  imageSize?: number;
  patchSize?: number;
  visionLayers?: number;
}

export function register(program: Command): void {
  program
    .command("new-model")
    .description("Write a GGUF model with random (seeded) weights that llama.cpp and tunekit load")
    .requiredOption("--arch <arch>", "llama, qwen2, qwen3, gemma, gemma2, gemma3 or gemma3n")
    .option("--dim <n>", "embedding width", num("--dim"))
    .option("--layers <n>", "decoder blocks", num("--layers"))
    .option("--heads <n>", "attention heads", num("--heads"))
    .option("--kv-heads <n>", "key/value heads", num("--kv-heads"))
    .option("--head-dim <n>", "size of one head", num("--head-dim"))
    .option("--ffn <n>", "FFN hidden width", num("--ffn"))
    .option("--vocab <n>", "vocabulary size (≤ the tokenizer's; default the tokenizer's)", num("--vocab"))
    .option(
      "--sliding-window <n>",
      "sliding window of local layers (gemma2, gemma3)",
      num("--sliding-window"),
    )
    .option("--tokenizer-from <file>", "GGUF whose tokenizer to copy (default ../shared tiny-random-llama)")
    .requiredOption("--seed <n>", "random seed", num("--seed"))
    .requiredOption("--out <file>", "output GGUF")
    .option("--type <type>", "matrix type: f32 or f16", "f32")
    .option(
      "--vision",
      "gemma3 / gemma3n: also write a tiny random vision tower (SigLIP / MobileNet-V5), mmproj-<out> beside the model",
    )
    .option(
      "--image-size <n>",
      "vision: image side in pixels (default 64; gemma3n: 512, a multiple of 256)",
      num("--image-size"),
    )
    .option("--patch-size <n>", "vision: patch side (default 8)", num("--patch-size"))
    .option("--vision-layers <n>", "vision: encoder blocks (default 2)", num("--vision-layers"))
    .option("--json", "one JSON document on stdout")
    .action(
      action(async (opts: NewModelCliOptions) => {
        const { json: _json, vision, imageSize, patchSize, visionLayers, ...rest } = opts;
        const tower = vision ? { imageSize, patchSize, nLayer: visionLayers } : undefined;
        if (!vision && (imageSize ?? patchSize ?? visionLayers) !== undefined)
          throw new InputError("--image-size, --patch-size and --vision-layers need --vision", {
            field: "vision",
          });
        emit(await newModelGguf({ ...rest, vision: tower }), opts, renderNewModel);
      }),
    );
}

function renderNewModel(r: NewModelResult): string {
  const window = r.slidingWindow ? `, sliding window ${r.slidingWindow}` : "";
  return (
    `${r.out}: ${r.arch}, ${r.layers} layers, dim ${r.dim}, ${r.heads} heads (${r.kvHeads} KV) × ${r.headDim}, ` +
    `ffn ${r.ffn}, vocab ${r.vocab}${window}, ${r.type}, ${r.parameters.toLocaleString("en")} parameters, ${r.bytes} bytes` +
    (r.mmproj
      ? `\n${r.mmproj.out}: ${r.arch === "gemma3n" ? "gemma3n vision tower (MobileNet-V5)" : "gemma3 vision tower"}, ` +
        `${r.mmproj.imageSize} px images, patch ${r.mmproj.patchSize}, ` +
        `${r.mmproj.layers} layers, ${r.mmproj.imageTokens} soft tokens per image, ${r.mmproj.bytes} bytes`
      : "")
  );
}
