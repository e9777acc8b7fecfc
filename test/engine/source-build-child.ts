// Child process of source-build.test.ts, started with TUNEKIT_GGML=source: tunekit's engine runs on this
// machine's source build while node-llama-cpp (llama.cpp's prebuilt ggml) evaluates the same model in the same
// process. Prints one JSON line: which libggml-base files are mapped, and the log-softmax gap on stories260K.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Token } from "node-llama-cpp";
import { ggml } from "../../lib/engine/ffi.js";
import { convertLlama2c } from "../../lib/models/convert-llama2c.js";
import { Model } from "../../lib/models/model.js";
import { loadModel } from "../../lib/infer/model.js";
import { nextTokenLogits } from "../../lib/infer/scoring.js";
import { sharedDir } from "../../lib/util/paths.js";
import { maxLogSoftmaxDelta } from "../models/parity-util.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-source-build-"));
try {
  const src = join(sharedDir()!, "models", "stories260K");
  const path = join(dir, "stories260K.gguf");
  await convertLlama2c({
    checkpoint: join(src, "stories260K.bin"),
    tokenizer: join(src, "tok512.model"),
    out: path,
    type: "f32",
  });
  const ours = Model.load(path); // tunekit first: its libraries are loaded before node-llama-cpp's
  const ref = await loadModel({ modelPath: path, contextSize: 128, threads: 1, precise: true });
  try {
    const tokens = [
      ours.tokenizer.bos!,
      ...ours.tokenizer.encode("Once upon a time, Tim and Sue went to the park."),
    ];
    const theirs = await ref.exclusive(() => nextTokenLogits(ref, tokens as Token[]));
    const mine = ours.logits(tokens);
    const bases = [
      ...new Set(
        readFileSync("/proc/self/maps", "utf8")
          .split("\n")
          .map((l) => l.split(/\s+/).slice(5).join(" "))
          .filter((p) => /libggml-base\.so/.test(p)),
      ),
    ];
    console.log(
      JSON.stringify({
        source: ggml().folder.source,
        folder: ggml().folder.dir,
        bases,
        delta: maxLogSoftmaxDelta(mine, theirs),
        positions: tokens.length,
      }),
    );
  } finally {
    ours.dispose();
    await ref.dispose();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
