// Vision commands: `tunekit vision info` (an mmproj's config) and `tunekit vision encode` (soft tokens of
// images from tunekit's own engine, for parity checks against llama.cpp and for caching).
import type { Command } from "commander";
import { writeFileAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import {
  VisionModel,
  nImageTokens,
  preprocessImage,
  type SiglipVisionConfig,
} from "../../models/vision/index.js";
import { action, emit, num } from "../output.js";
import type { CommonOptions } from "../output.js";

interface InfoResult {
  mmproj: string;
  config: SiglipVisionConfig;
  imageTokens: number;
  parameters: number;
}

interface EncodeResult {
  mmproj: string;
  images: string[];
  imageTokens: number;
  width: number;
  /** Output file: f32 little-endian [images][tokens][width], or JSON when it ends in .json. */
  out?: string;
  /** Mean and standard deviation of each image's soft tokens. */
  stats: Array<{ image: string; mean: number; std: number }>;
  /** Wall time of the encoder graph, ms. */
  encodeMs: number;
}

export function register(program: Command): void {
  const vision = program
    .command("vision")
    .description("Gemma 3 vision tower (SigLIP + gemma3 projector) in mmproj files");
  vision
    .command("info")
    .description("Show an mmproj's vision configuration")
    .requiredOption("--mmproj <file>", "mmproj GGUF (projector gemma3)")
    .option("--json", "one JSON document on stdout")
    .action(
      action((opts: CommonOptions & { mmproj: string }) => {
        const m = VisionModel.load(opts.mmproj);
        try {
          const parameters = m.file.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
          emit<InfoResult>(
            { mmproj: opts.mmproj, config: m.config, imageTokens: nImageTokens(m.config), parameters },
            opts,
            (r) =>
              `${r.mmproj}: ${r.config.imageSize} px images, patch ${r.config.patchSize}, ${r.config.nLayer} blocks of ` +
              `width ${r.config.nEmbd} (${r.config.nHead} heads, MLP ${r.config.nFf}), ${r.imageTokens} soft tokens of ` +
              `width ${r.config.projectionDim} per image, ${r.parameters.toLocaleString("en")} parameters`,
          );
        } finally {
          m.dispose();
        }
      }),
    );
  vision
    .command("encode")
    .description("Soft tokens of images with tunekit's engine (preprocessed as llama.cpp does)")
    .requiredOption("--mmproj <file>", "mmproj GGUF (projector gemma3)")
    .requiredOption("--image <files...>", "image files (JPEG, PNG, WebP, …)")
    .option("--out <file>", "write the embeddings: .json (nested arrays) or raw f32 otherwise")
    .option("--threads <n>", "CPU threads", num("--threads"))
    .option("--json", "one JSON document on stdout")
    .action(
      action(
        async (opts: CommonOptions & { mmproj: string; image: string[]; out?: string; threads?: number }) => {
          if (opts.image.length === 0) throw new InputError("no --image given", { field: "image" });
          const m = VisionModel.load(opts.mmproj);
          try {
            const c = m.config;
            const pixels = await Promise.all(opts.image.map((f) => preprocessImage(f, c)));
            const all = new Float32Array(pixels.reduce((n, p) => n + p.length, 0));
            pixels.reduce((off, p) => (all.set(p, off), off + p.length), 0);
            const started = performance.now();
            const embd = m.encode(all, { threads: opts.threads });
            const encodeMs = performance.now() - started;
            const per = nImageTokens(c) * c.projectionDim;
            const stats = opts.image.map((image, i) => {
              const v = embd.subarray(i * per, (i + 1) * per);
              const mean = v.reduce((a, b) => a + b, 0) / v.length;
              const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
              return { image, mean, std };
            });
            if (opts.out) {
              if (opts.out.endsWith(".json")) {
                const nested = opts.image.map((_, i) =>
                  Array.from({ length: nImageTokens(c) }, (_, t) =>
                    Array.from(
                      embd.subarray(i * per + t * c.projectionDim, i * per + (t + 1) * c.projectionDim),
                    ),
                  ),
                );
                writeFileAtomic(opts.out, JSON.stringify(nested));
              } else writeFileAtomic(opts.out, new Uint8Array(embd.buffer, embd.byteOffset, embd.byteLength));
            }
            emit<EncodeResult>(
              {
                mmproj: opts.mmproj,
                images: opts.image,
                imageTokens: nImageTokens(c),
                width: c.projectionDim,
                out: opts.out,
                stats,
                encodeMs,
              },
              opts,
              (r) =>
                `${r.images.length} image(s) → ${r.imageTokens} soft tokens × ${r.width} each in ${r.encodeMs.toFixed(0)} ms` +
                (r.out ? `, written to ${r.out}` : "") +
                "\n" +
                r.stats
                  .map((s) => `  ${s.image}: mean ${s.mean.toFixed(4)}, std ${s.std.toFixed(4)}`)
                  .join("\n"),
            );
          } finally {
            m.dispose();
          }
        },
      ),
    );
}
