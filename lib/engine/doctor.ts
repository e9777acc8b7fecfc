// What `tunekit doctor` reports: versions, the ggml binaries in use, devices, CPU features, buffer types,
// threads and memory.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { basename, dirname, join } from "node:path";
import { PACKAGE_ROOT } from "../util/paths.js";
import { getBackend, listDevices, type DeviceInfo } from "./backend.js";
import { ggml } from "./ffi.js";
import { sourceBuildStatus, type ProbeResult } from "./source-build.js";

export interface DoctorReport {
  versions: { tunekit: string; node: string; nodeLlamaCpp: string | null; ggml: string; ggmlCommit: string };
  binaries: {
    /** cpu, cuda or vulkan. */
    flavor: string;
    folder: string;
    /** The CPU variant ggml picked for this processor (libggml-cpu-<name>.so), when it can be seen. */
    cpuVariant: string | null;
    /** "source" when this machine's build from the bundled source is loaded, else "prebuilt". */
    origin: "prebuilt" | "source";
    /** This machine's source build (tunekit engine build-cpu): where it is, its state and probe. */
    sourceBuild: { dir: string; state: string; probe?: ProbeResult };
  };
  /** The device graphs run on. */
  device: DeviceInfo;
  devices: DeviceInfo[];
  cpu: {
    model: string;
    logicalCores: number;
    /** Features the loaded CPU variant was built with (ggml_backend_get_features). */
    ggmlFeatures: Record<string, string>;
    /** Instruction-set flags of the host relevant to ggml's kernels (from /proc/cpuinfo). */
    hostFlags: string[];
  };
  /** CPU extra buffer types for frozen weights (AMX, CPU_REPACK). */
  extraBufferTypes: string[];
  threads: number;
  memory: { totalBytes: number; freeBytes: number };
}

function readJson(path: string): { version?: string } | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as { version?: string };
  } catch {
    return null;
  }
}

function nodeLlamaCppVersion(): string | null {
  try {
    const require = createRequire(import.meta.url);
    for (let d = dirname(require.resolve("node-llama-cpp")); dirname(d) !== d; d = dirname(d)) {
      const pkg = join(d, "package.json");
      if (existsSync(pkg) && basename(d) === "node-llama-cpp") return readJson(pkg)?.version ?? null;
    }
  } catch {
    // not installed: reported as null
  }
  return null;
}

/** libggml-cpu-<variant>.so mapped into this process (Linux). */
function loadedCpuVariant(): string | null {
  try {
    const m = /libggml-cpu-([\w-]+)\.so/.exec(readFileSync("/proc/self/maps", "utf8"));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

const HOST_FLAGS = [
  "avx",
  "avx2",
  "fma",
  "f16c",
  "avx512f",
  "avx512_vnni",
  "avx512_bf16",
  "avx_vnni",
  "amx_tile",
  "amx_int8",
  "amx_bf16",
];

function hostFlags(): string[] {
  try {
    const m = /^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    const flags = new Set(m ? m[1].trim().split(/\s+/) : []);
    return HOST_FLAGS.filter((f) => flags.has(f));
  } catch {
    return [];
  }
}

export function doctor(): DoctorReport {
  const g = ggml();
  const backend = getBackend();
  return {
    versions: {
      tunekit: readJson(join(PACKAGE_ROOT, "package.json"))?.version ?? "unknown",
      node: process.version,
      nodeLlamaCpp: nodeLlamaCppVersion(),
      ggml: g.ggml_version(),
      ggmlCommit: g.ggml_commit(),
    },
    binaries: {
      flavor: g.folder.flavor,
      folder: g.folder.dir,
      cpuVariant: g.folder.source ? "native (built from source)" : loadedCpuVariant(),
      origin: g.folder.source ? "source" : "prebuilt",
      sourceBuild: sourceBuildStatus(),
    },
    device: backend.info,
    devices: listDevices(),
    cpu: {
      model: os.cpus()[0]?.model ?? "unknown",
      logicalCores: os.availableParallelism(),
      ggmlFeatures: backend.cpuFeatures,
      hostFlags: hostFlags(),
    },
    extraBufferTypes: backend.extraBufferTypes.map((e) => e.name),
    threads: backend.threads,
    memory: { totalBytes: os.totalmem(), freeBytes: os.freemem() },
  };
}
