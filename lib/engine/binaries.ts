// Finds the folder of prebuilt ggml libraries shipped by the pinned node-llama-cpp, the same way
// node-llama-cpp chooses its own build (CUDA, then Vulkan, then CPU), so that both share one libggml-base.
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { EngineError } from "../util/errors.js";

/** Which prebuilt flavour of ggml is loaded. */
export type BinaryFlavor = "cuda" | "vulkan" | "cpu";

export interface BinaryFolder {
  flavor: BinaryFlavor;
  /** Absolute folder holding libggml-base.so, libggml*.so and the backend libraries. */
  dir: string;
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
  const forced = process.env.TUNEKIT_BACKEND as BinaryFlavor | undefined;
  const order: BinaryFlavor[] = forced ? [forced] : ["cuda", "vulkan", "cpu"];
  for (const flavor of order) {
    const pkg = `@node-llama-cpp/${arch}${flavor === "cpu" ? "" : "-" + flavor}`;
    const dir = packageBinDir(pkg);
    if (dir && (flavor === "cpu" || forced || driverPresent(flavor))) return { flavor, dir };
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
