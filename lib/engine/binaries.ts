// Finds the ggml libraries: the prebuilt ones shipped by the pinned node-llama-cpp, chosen the way
// node-llama-cpp chooses its own build (CUDA, then Vulkan, then CPU) so that both share one libggml-base —
// or, on a CPU-only run, this machine's build from the bundled source (`tunekit engine build-cpu`,
// source-build.ts) once it has passed its probe. TUNEKIT_GGML=prebuilt|source|auto picks (default auto).
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { EngineError } from "../util/errors.js";
import { SOURCE_LIBRARIES, sourceBuildStatus, usableSourceBuild } from "./source-build.js";

/** Which prebuilt flavour of ggml is loaded. */
export type BinaryFlavor = "cuda" | "vulkan" | "cpu";

export interface BinaryFolder {
  flavor: BinaryFlavor;
  /** Absolute folder holding libggml-base.so, libggml*.so and the backend libraries. */
  dir: string;
  /** libggml-base to load (by path). */
  baseLibrary: string;
  /** The main libggml (backend registry) to load (by path). */
  mainLibrary: string;
  /**
   * A CPU build from the bundled source (its CPU backend is linked in, so no backend libraries are loaded
   * from `dir`); false for node-llama-cpp's prebuilt binaries.
   */
  source: boolean;
  /**
   * node-llama-cpp's prebuilt folder (libllama, the prebuilt libggml*): for code that loads llama.cpp itself.
   * Equal to `dir` unless `source`; never mix its libggml with the one tunekit loaded (two separate ggml copies).
   */
  prebuiltDir: string;
}

/** The source build in `dir` (a folder of SOURCE_LIBRARIES) as a binary folder. */
function sourceFolder(dir: string, prebuiltDir: string): BinaryFolder {
  for (const name of SOURCE_LIBRARIES)
    if (!existsSync(join(dir, name))) throw new EngineError(`${join(dir, name)} is missing`);
  return {
    flavor: "cpu",
    dir,
    baseLibrary: join(dir, "libggml-base.so.0"),
    mainLibrary: join(dir, "libggml.so.0"),
    source: true,
    prebuiltDir,
  };
}

/** node_modules folders from this file upwards (the packages' `exports` hide their package.json from require). */
function nodeModulesDirs(): string[] {
  const dirs: string[] = [];
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules"))) dirs.push(join(d, "node_modules"));
    if (dirname(d) === d) return dirs;
  }
}

function packageBinDir(pkg: string): string | undefined {
  for (const nm of nodeModulesDirs()) {
    const bins = join(nm, pkg, "bins");
    if (!existsSync(bins)) continue;
    const sub = readdirSync(bins).find((d) => existsSync(join(bins, d, "libggml-base.so")));
    if (sub) return join(bins, sub);
  }
  return undefined;
}

/** A GPU flavour is only worth loading when its driver is on the machine. */
function driverPresent(flavor: BinaryFlavor): boolean {
  const libDirs = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/cuda/lib64",
    "/usr/lib/wsl/lib",
  ];
  const lib = flavor === "cuda" ? "libcuda.so.1" : "libvulkan.so.1";
  return libDirs.some((d) => existsSync(join(d, lib)));
}

/**
 * Chooses the ggml binaries: `TUNEKIT_BACKEND=cpu|cuda|vulkan` forces a flavour; otherwise a GPU flavour is
 * taken when its package and its driver are present, else the CPU build.
 */
export function findBinaryFolder(): BinaryFolder {
  const arch = `${process.platform}-${process.arch}`;
  // the probe of a source build (source-probe.ts) names the build it checks
  if (process.env.TUNEKIT_GGML_DIR)
    return sourceFolder(process.env.TUNEKIT_GGML_DIR, packageBinDir(`@node-llama-cpp/${arch}`) ?? "");
  // default auto: a source build exists only when the user made one (tunekit engine build-cpu)
  const choice = process.env.TUNEKIT_GGML ?? "auto";
  if (!["auto", "prebuilt", "source"].includes(choice))
    throw new EngineError(`TUNEKIT_GGML must be auto, prebuilt or source, got "${choice}"`);
  const forced = process.env.TUNEKIT_BACKEND as BinaryFlavor | undefined;
  const order: BinaryFlavor[] = forced ? [forced] : ["cuda", "vulkan", "cpu"];
  for (const flavor of order) {
    const pkg = `@node-llama-cpp/${arch}${flavor === "cpu" ? "" : "-" + flavor}`;
    const dir = packageBinDir(pkg);
    if (!dir || !(flavor === "cpu" || forced || driverPresent(flavor))) continue;
    if (flavor === "cpu" && choice !== "prebuilt") {
      const built = usableSourceBuild();
      if (built) return sourceFolder(built.libDir, dir);
      if (choice === "source") {
        const st = sourceBuildStatus();
        throw new EngineError(
          `TUNEKIT_GGML=source but this machine's source build is ${st.state}` +
            (st.probe?.error ? ` (${st.probe.error})` : "") +
            `: run \`tunekit engine build-cpu\` (it builds into ${st.dir})`,
        );
      }
    }
    return {
      flavor,
      dir,
      baseLibrary: join(dir, "libggml-base.so"),
      mainLibrary: ggmlMainLibrary(dir),
      source: false,
      prebuiltDir: dir,
    };
  }
  throw new EngineError(
    `no prebuilt ggml binaries for ${arch}${forced ? ` (TUNEKIT_BACKEND=${forced})` : ""}: ` +
      `expected the package @node-llama-cpp/${arch} installed with node-llama-cpp`,
  );
}

/** The versioned main ggml library in a binary folder (libggml.v0.5.0.so, libggml.cuda.v0.5.0.so, …). */
export function ggmlMainLibrary(dir: string): string {
  const name = readdirSync(dir).find((f) => /^libggml\.(.+\.)?v[\d.]+\.so$/.test(f) || f === "libggml.so");
  if (!name) throw new EngineError(`no libggml*.so in ${dir}`);
  return join(dir, name);
}
