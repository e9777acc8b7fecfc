// llama.cpp's own multimodal code (tools/mtmd: clip.cpp, mtmd.cpp, mtmd-image.cpp, models/*.cpp) as a reference
// for the vision tests. node-llama-cpp's prebuilt binaries do not contain libmtmd, so this compiles those
// sources from the bundled llama.cpp release (node_modules/node-llama-cpp/llama/gitRelease.bundle) with g++
// against the prebuilt libggml*.so and libllama, together with test/helpers/clip-harness.cpp, once per machine into
// os.tmpdir()/tunekit-clip-harness-<hash>/ (about a minute on 2 idle cores the first time; later runs reuse it).
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findBinaryFolder, ggmlMainLibrary } from "../../lib/engine/binaries.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

const HARNESS_SOURCE = fileURLToPath(new URL("./clip-harness.cpp", import.meta.url));

/** Why the harness cannot be built here, or undefined when it can (g++ and git present). */
export function clipHarnessUnavailable(): string | undefined {
  for (const tool of ["g++", "git"])
    if (spawnSync(tool, ["--version"], { stdio: "ignore" }).status !== 0)
      return `${tool} is not installed: the llama.cpp clip parity harness needs it (apt-get install build-essential git)`;
  if (!existsSync(bundlePath()) && !process.env.TUNEKIT_LLAMA_SRC)
    return "node-llama-cpp's llama.cpp source bundle is absent";
  return undefined;
}

function bundlePath(): string {
  return join(PACKAGE_ROOT, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
}

/** The llama.cpp source tree: $TUNEKIT_LLAMA_SRC, or a clone of the bundle cached under os.tmpdir(). */
function llamaSource(): string {
  if (process.env.TUNEKIT_LLAMA_SRC) return process.env.TUNEKIT_LLAMA_SRC;
  const bundle = bundlePath();
  const st = statSync(bundle);
  const dir = join(tmpdir(), `tunekit-llama-src-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (existsSync(join(dir, "tools", "mtmd", "clip.cpp"))) return dir;
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  execFileSync("git", ["clone", "-q", bundle, tmp], { stdio: "ignore" });
  try {
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw e;
  }
  return dir;
}

let built: { exe: string; bins: string; seconds: number } | undefined;

/** What to compile and where the cached build lives (a hash of the sources, the harness and the flags). */
export function clipHarnessPlan(): {
  src: string;
  bins: string;
  sources: string[];
  flags: string[];
  dir: string;
} {
  const src = llamaSource();
  const bins = findBinaryFolder().prebuiltDir;
  const mtmd = join(src, "tools", "mtmd");
  const sources = [
    join(mtmd, "clip.cpp"),
    join(mtmd, "mtmd.cpp"),
    join(mtmd, "mtmd-image.cpp"),
    join(mtmd, "mtmd-audio.cpp"),
    ...readdirSync(join(mtmd, "models"))
      .filter((f) => f.endsWith(".cpp"))
      .map((f) => join(mtmd, "models", f)),
  ];
  // -O0: the harness only builds graphs (ggml's prebuilt libraries do the arithmetic), and it compiles 2.5×
  // faster than -O2; mtmd-image.cpp's resampling loops get -O2 (see optimised()).
  const flags = [
    "-std=c++17",
    "-fPIC",
    "-w",
    `-I${join(src, "ggml", "include")}`,
    `-I${join(src, "include")}`,
    `-I${mtmd}`,
    `-I${join(src, "vendor")}`,
  ];
  const hash = createHash("sha256");
  for (const f of sources) hash.update(f.slice(src.length)).update(readFileSync(f));
  hash.update(readFileSync(HARNESS_SOURCE));
  hash.update(flags.join(" ").replaceAll(src, "")).update(sources.map(optimised).join(" ")).update(bins);
  const dir = join(tmpdir(), `tunekit-clip-harness-${hash.digest("hex").slice(0, 16)}`);
  return { src, bins, sources, flags, dir };
}

/**
 * Path of the compiled harness, building it when needed. `seconds` is how long this call spent compiling
 * (0 when the cache was used).
 */
export function buildClipHarness(): { exe: string; bins: string; seconds: number } {
  if (built) return built;
  const { bins, sources, flags, dir } = clipHarnessPlan();
  const exe = join(dir, "clip-harness");
  if (existsSync(exe)) return (built = { exe, bins, seconds: 0 });
  const started = Date.now();
  const objDir = `${dir}.${process.pid}.tmp`;
  mkdirSync(objDir, { recursive: true });
  try {
    // two compilers at a time (the machine has two cores); each object is independent
    const all = [...sources, HARNESS_SOURCE];
    const commands = all.map(
      (f, i) =>
        `g++ ${optimised(f)} ${flags.map(shellQuote).join(" ")} -c ${shellQuote(f)} -o ${shellQuote(join(objDir, `${i}-${basename(f, ".cpp")}.o`))}`,
    );
    writeFileSync(join(objDir, "build.txt"), commands.join("\0") + "\0");
    execFileSync("sh", ["-c", `xargs -0 -n 1 -P 2 sh -c < ${shellQuote(join(objDir, "build.txt"))}`], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const objects = readdirSync(objDir)
      .filter((f) => f.endsWith(".o"))
      .map((f) => join(objDir, f));
    if (objects.length !== all.length) throw new Error(`compiled ${objects.length} of ${all.length} sources`);
    execFileSync(
      "g++",
      [
        "-o",
        join(objDir, "clip-harness"),
        ...objects,
        `-L${bins}`,
        "-lggml-base",
        `-l:${basename(ggmlMainLibrary(bins))}`,
        `-l:${llamaLibrary(bins)}`,
        `-Wl,-rpath,${bins}`,
        "-lpthread",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    for (const o of objects) rmSync(o);
    try {
      renameSync(objDir, dir);
    } catch {
      if (!existsSync(exe)) throw new Error(`could not move the harness into ${dir}`);
    }
  } finally {
    rmSync(objDir, { recursive: true, force: true });
  }
  return (built = { exe, bins, seconds: (Date.now() - started) / 1000 });
}

/** Optimisation level per source: the pixel loops of mtmd-image.cpp (and the harness) at -O2, the rest -O0. */
function optimised(source: string): string {
  return /mtmd-image\.cpp$|clip-harness\.cpp$/.test(source) ? "-O2" : "-O0";
}

/** libllama.v0.5.0.so (the versioned name node-llama-cpp ships). */
function llamaLibrary(bins: string): string {
  const name = readdirSync(bins).find((f) => /^libllama\.(.+\.)?v[\d.]+\.so$/.test(f) || f === "libllama.so");
  if (!name) throw new Error(`no libllama*.so in ${bins}`);
  return name;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function run(args: string[]): string {
  const { exe, bins } = buildClipHarness();
  const r = spawnSync(exe, args, { env: { ...process.env, CLIP_HARNESS_BINS: bins }, encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(
      `clip-harness ${args[0]} failed (${r.status ?? r.signal}): ${r.stderr.split("\n").slice(-6).join("\n")}`,
    );
  return r.stdout;
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function scratch(name: string): string {
  const dir = join(tmpdir(), "tunekit-clip-io");
  mkdirSync(dir, { recursive: true });
  return join(dir, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}-${name}`);
}

/** clip_image_encode on planar pixels [nx, ny, 3]: embeddings [nTokens][nEmbd] flattened, plus their counts. */
export function clipEncode(
  mmproj: string,
  pixels: Float32Array,
  size: number,
  o: { flashAttention?: boolean; threads?: number } = {},
): { embeddings: Float32Array; nTokens: number; nEmbd: number } {
  const input = scratch("pixels.f32");
  const output = scratch("embd.f32");
  writeFileSync(input, new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  try {
    const out = run([
      "encode",
      mmproj,
      input,
      String(size),
      String(size),
      output,
      o.flashAttention ? "1" : "0",
      String(o.threads ?? 2),
    ]);
    const [nTokens, nEmbd] = out.trim().split(/\s+/).map(Number);
    return { embeddings: readF32(output), nTokens, nEmbd };
  } finally {
    rmSync(input, { force: true });
    rmSync(output, { force: true });
  }
}

/** llama.cpp's gemma3 preprocessing (mtmd_image_preprocessor_fixed_size) of interleaved RGB8 → planar f32. */
export function clipPreprocessRgb(
  mmproj: string,
  rgb: Uint8Array,
  width: number,
  height: number,
): Float32Array {
  const input = scratch("image.rgb");
  const output = scratch("pre.f32");
  writeFileSync(input, rgb);
  try {
    run(["preprocess-rgb", mmproj, input, String(width), String(height), output]);
    return readF32(output);
  } finally {
    rmSync(input, { force: true });
    rmSync(output, { force: true });
  }
}

/** The same from an image file decoded by stb_image, as llama.cpp's mtmd helper decodes it. */
export function clipPreprocessFile(mmproj: string, image: string): Float32Array {
  const output = scratch("pre.f32");
  try {
    run(["preprocess-file", mmproj, image, output]);
    return readF32(output);
  } finally {
    rmSync(output, { force: true });
  }
}

/** clip's view of an mmproj: output tokens per image, embedding width, image size. */
export function clipInfo(mmproj: string): { nTokens: number; nEmbd: number; imageSize: number } {
  const [nTokens, nEmbd, imageSize] = run(["info", mmproj]).trim().split(/\s+/).map(Number);
  return { nTokens, nEmbd, imageSize };
}

/** One chunk of mtmd's tokenization: text tokens, or an image of n soft tokens. */
export type MtmdChunk =
  { type: "text"; tokens: number[] } | { type: "image"; n_tokens: number; non_causal: boolean };

/**
 * llama.cpp's multimodal path end to end (what llama-mtmd-cli does): loads MODEL with MMPROJ through
 * mtmd_init_from_file, tokenizes `prompt` (mtmd's marker "<__media__>" where the image goes; mtmd adds the
 * projector's begin/end text around it), encodes the image (interleaved RGB8, preprocessed by mtmd itself),
 * and decodes everything with llama_decode — the image with non-causal attention when mtmd asks for it.
 * Returns the chunks, the logits of every text token ([nText][nVocab], in chunk order) and the soft tokens.
 */
export function mtmdRun(o: {
  model: string;
  mmproj: string;
  rgb: Uint8Array;
  width: number;
  height: number;
  prompt: string;
}): { chunks: MtmdChunk[]; logits: Float32Array; imageEmbeddings: Float32Array } {
  const rgbPath = scratch("image.rgb");
  const logitsPath = scratch("logits.f32");
  const embdPath = scratch("embd.f32");
  writeFileSync(rgbPath, o.rgb);
  try {
    const out = run([
      "mtmd",
      o.model,
      o.mmproj,
      rgbPath,
      String(o.width),
      String(o.height),
      o.prompt,
      logitsPath,
      embdPath,
    ]);
    const chunks = JSON.parse(out.trim().split("\n").pop()!) as MtmdChunk[];
    return { chunks, logits: readF32(logitsPath), imageEmbeddings: readF32(embdPath) };
  } finally {
    for (const f of [rgbPath, logitsPath, embdPath]) rmSync(f, { force: true });
  }
}
