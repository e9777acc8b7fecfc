// convert, generate, logits: tunekit's own engine from the command line.
import type { Command } from "commander";
import { writeFileAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { convertLlama2c } from "../../models/convert-llama2c.js";
import { retypeGguf } from "../../models/retype.js";
import { convertHfToGguf } from "../../models/convert-hf.js";
import { generate } from "../../models/generate.js";
import { Model } from "../../models/model.js";
import { LoraAdapter } from "../../lora/adapter.js";
import { action, emit, num, type CommonOptions } from "../output.js";

export function register(program: Command): void {
  program
    .command("convert")
    .description("convert a model to GGUF (llama2.c checkpoints; Hugging Face folders; GGUF retyping)")
    .requiredOption("--from <format>", "llama2c | hf | gguf")
    .requiredOption("--in <path>", "input checkpoint or folder")
    .option("--tokenizer <path>", "tokenizer.model / tokenizer.bin (llama2c)")
    .requiredOption("--out <file>", "output .gguf")
    .option("--type <type>", "f32 | f16 | bf16", "f32")
    .option("--json", "machine-readable output")
    .action(
      action(
        async (
          o: CommonOptions & { from: string; in: string; tokenizer?: string; out: string; type: string },
        ) => {
          if (!["f32", "f16", "bf16"].includes(o.type))
            throw new InputError(`--type must be f32, f16 or bf16, not "${o.type}"`);
          const type = o.type as "f32" | "f16" | "bf16";
          let result: { tensors: number; bytes: number };
          if (o.from === "llama2c") {
            if (!o.tokenizer)
              throw new InputError("--from llama2c needs --tokenizer (tokenizer.model or tokenizer.bin)");
            result = await convertLlama2c({ checkpoint: o.in, tokenizer: o.tokenizer, out: o.out, type });
          } else if (o.from === "hf") {
            result = await convertHfToGguf({ dir: o.in, out: o.out, type });
          } else if (o.from === "gguf") {
            result = await retypeGguf({ input: o.in, out: o.out, type });
          } else throw new InputError(`--from ${o.from} is not supported (llama2c, hf, gguf)`);
          emit(
            { out: o.out, ...result },
            o,
            (r) => `wrote ${r.out}: ${r.tensors} tensors, ${(r.bytes / 1e6).toFixed(2)} MB`,
          );
        },
      ),
    );

  program
    .command("generate")
    .description("generate text with tunekit's engine")
    .requiredOption("--model <file>", "GGUF model")
    .option("--adapter <file>", "LoRA adapter GGUF (llama.cpp layout, as `tunekit train` writes)")
    .option("--prompt <text>", "prompt", "")
    .option("--max-tokens <n>", "new tokens", num("--max-tokens"), 64)
    .option("--temperature <t>", "0 = greedy", num("--temperature"), 0)
    .option("--top-k <k>", "top-k", num("--top-k"), 0)
    .option("--top-p <p>", "top-p", num("--top-p"), 1)
    .option("--seed <s>", "sampling seed", num("--seed"), 0)
    .option("--json", "machine-readable output")
    .action(
      action(
        async (
          o: CommonOptions & {
            model: string;
            adapter?: string;
            prompt: string;
            maxTokens: number;
            temperature: number;
            topK: number;
            topP: number;
            seed: number;
          },
        ) => {
          const model = Model.load(o.model);
          const adapter = o.adapter ? LoraAdapter.loadGguf(model, o.adapter) : undefined;
          try {
            const r = generate(model, o.prompt, { ...o, linear: adapter?.linear() });
            emit(r, o, (x) => o.prompt + x.text);
          } finally {
            adapter?.free();
            model.dispose();
          }
        },
      ),
    );

  program
    .command("logits")
    .description("per-position logits from tunekit's engine (for parity checks)")
    .requiredOption("--model <file>", "GGUF model")
    .option("--adapter <file>", "LoRA adapter GGUF")
    .option("--text <text>", "text (BOS added when the model wants it)")
    .option("--tokens <ids>", "comma-separated token ids")
    .requiredOption("--out <file>", "output JSON")
    .option("--json", "machine-readable output")
    .action(
      action(
        async (
          o: CommonOptions & { model: string; adapter?: string; text?: string; tokens?: string; out: string },
        ) => {
          if ((o.text === undefined) === (o.tokens === undefined))
            throw new InputError("give exactly one of --text or --tokens");
          const model = Model.load(o.model);
          try {
            const tok = model.tokenizer;
            const tokens =
              o.tokens !== undefined
                ? o.tokens.split(",").map((s, i) => {
                    const n = Number(s.trim());
                    if (!Number.isInteger(n))
                      throw new InputError(`--tokens item ${i + 1} "${s}" is not an integer`);
                    return n;
                  })
                : [...(tok.addBos && tok.bos !== undefined ? [tok.bos] : []), ...tok.encode(o.text!)];
            const adapter = o.adapter ? LoraAdapter.loadGguf(model, o.adapter) : undefined;
            const logits = model.logits(tokens, adapter?.linear());
            adapter?.free();
            writeFileAtomic(o.out, JSON.stringify({ tokens, logits: logits.map((r) => Array.from(r)) }));
            emit(
              { out: o.out, tokens, positions: logits.length, vocab: model.config.nVocab },
              o,
              (r) => `wrote ${r.positions} × ${r.vocab} logits to ${r.out}`,
            );
          } finally {
            model.dispose();
          }
        },
      ),
    );
}
