// Shared fixtures for trainer tests: stories260K converted once per process, and a small text dataset
// the model has not seen.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedDir } from "../../lib/util/paths.js";
import { convertLlama2c } from "../../lib/models/convert-llama2c.js";

export const shared = sharedDir();
export const skip = !shared && "../shared is absent";

/** Not TinyStories prose: the base model gives it a high loss. */
export const UNSEEN =
  "The quantum physicist measured the spin of seven electrons in the laboratory at midnight.";

let cached: { dir: string; model: string; train: string; eval: string } | undefined;

export async function fixture() {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "tunekit-train-"));
  const src = join(shared!, "models", "stories260K");
  const model = join(dir, "stories260K.gguf");
  await convertLlama2c({
    checkpoint: join(src, "stories260K.bin"),
    tokenizer: join(src, "tok512.model"),
    out: model,
  });
  const train = join(dir, "train.jsonl");
  const evalPath = join(dir, "eval.jsonl");
  writeFileSync(train, Array.from({ length: 8 }, () => JSON.stringify({ text: UNSEEN }) + "\n").join(""));
  writeFileSync(evalPath, JSON.stringify({ text: UNSEEN }) + "\n");
  cached = { dir, model, train, eval: evalPath };
  return cached;
}
