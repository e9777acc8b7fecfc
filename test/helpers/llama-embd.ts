// Runs llama-embd-harness.cpp (llama.cpp decoding token and raw-embedding chunks, as mtmd does) against the
// prebuilt libllama of node-llama-cpp's CPU bundle. Compiled once per source version into os.tmpdir().
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(here, "llama-embd-harness.cpp");
const LLAMA_SRC = "/work/llama-src/src";
const BINS = join(here, "..", "..", "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64");

/** Why the harness cannot run here (undefined when it can). */
export function harnessUnavailable(): string | undefined {
  if (!existsSync(join(LLAMA_SRC, "include", "llama.h"))) return "the llama.cpp source is absent";
  if (!existsSync(join(BINS, "libllama.v0.5.0.so"))) return "node-llama-cpp's CPU libraries are absent";
  try {
    execFileSync("g++", ["--version"], { stdio: "ignore" });
  } catch {
    return "g++ is absent";
  }
  return undefined;
}

function binary(): string {
  const hash = createHash("sha256").update(readFileSync(SOURCE)).update(BINS).digest("hex").slice(0, 12);
  const dir = join(tmpdir(), `tunekit-llama-embd-${hash}`);
  const exe = join(dir, "llama-embd-harness");
  if (existsSync(exe)) return exe;
  mkdirSync(dir, { recursive: true });
  const tmp = `${exe}.${process.pid}`;
  execFileSync(
    "g++",
    [
      "-O1",
      "-std=c++17",
      SOURCE,
      "-o",
      tmp,
      `-I${LLAMA_SRC}/include`,
      `-I${LLAMA_SRC}/ggml/include`,
      `-L${BINS}`,
      "-l:libllama.v0.5.0.so",
      "-l:libggml.v0.5.0.so",
      "-l:libggml-base.so",
      `-Wl,-rpath,${BINS}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  renameSync(tmp, exe);
  return exe;
}

/** One chunk of the input sequence. */
export type HarnessChunk =
  { tokens: number[] } | { embeddings: Float32Array; count: number; nonCausal: boolean };

/** llama.cpp's logits at every position of the chunks, decoded in order: [n][nVocab]. */
export function llamaChunkLogits(model: string, chunks: HarnessChunk[], nVocab: number): Float32Array[] {
  const exe = binary();
  const parts: Buffer[] = [Buffer.from(Int32Array.of(chunks.length).buffer)];
  let n = 0;
  for (const c of chunks) {
    if ("tokens" in c) {
      parts.push(
        Buffer.from(Int32Array.of(0, c.tokens.length, 0).buffer),
        Buffer.from(Int32Array.from(c.tokens).buffer),
      );
      n += c.tokens.length;
    } else {
      parts.push(
        Buffer.from(Int32Array.of(1, c.count, c.nonCausal ? 1 : 0).buffer),
        Buffer.from(c.embeddings.buffer, c.embeddings.byteOffset, c.embeddings.byteLength),
      );
      n += c.count;
    }
  }
  const dir = join(tmpdir(), `tunekit-llama-embd-run-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const inPath = join(dir, "in.bin");
  const outPath = join(dir, "out.f32");
  writeFileSync(inPath, Buffer.concat(parts));
  execFileSync(exe, [model, inPath, outPath], {
    env: { ...process.env, LLAMA_EMBD_HARNESS_BINS: BINS },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const buf = readFileSync(outPath);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (all.length !== n * nVocab)
    throw new Error(`harness wrote ${all.length} floats, expected ${n}×${nVocab}`);
  return Array.from({ length: n }, (_, i) => all.slice(i * nVocab, (i + 1) * nVocab));
}
