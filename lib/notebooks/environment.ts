// What the machine is, for the first notebook and for bug reports: Node, OS, CPU, memory, versions.
// (Backends and ggml CPU features come from the engine's doctor; this is only what Node itself knows.)
import { readFileSync } from "node:fs";
import { cpus, freemem, release, totalmem, type as osType } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../util/paths.js";

/** The machine and the software versions, as plain values. */
export interface SystemInfo {
  /** tunekit's version from package.json. */
  tunekitVersion: string;
  /** Node.js version, e.g. "v20.20.2". */
  node: string;
  /** Versions of the native-code dependencies as installed (undefined when not installed). */
  packages: Record<string, string | undefined>;
  /** process.platform and process.arch, e.g. "linux", "x64". */
  platform: string;
  arch: string;
  /** Kernel name and release, e.g. "Linux 6.1.0". */
  os: string;
  /** CPU model string as the OS reports it. */
  cpuModel: string;
  /** Logical CPUs the OS shows this process. */
  logicalCpus: number;
  /** Total and currently free memory, bytes. */
  totalMemoryBytes: number;
  freeMemoryBytes: number;
}

function packageVersion(name: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "node_modules", name, "package.json"), "utf8"));
    return (pkg as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Reads the machine's facts; cheap (no native code is loaded). */
export function systemInfo(): SystemInfo {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
  const cpuList = cpus();
  return {
    tunekitVersion: pkg.version,
    node: process.version,
    packages: Object.fromEntries(
      ["node-llama-cpp", "koffi", "nodejs-polars", "sharp", "tslab"].map((n) => [n, packageVersion(n)]),
    ),
    platform: process.platform,
    arch: process.arch,
    os: `${osType()} ${release()}`,
    cpuModel: cpuList[0]?.model.trim() ?? "unknown",
    logicalCpus: cpuList.length,
    totalMemoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
  };
}

/** "23.4 GiB" style sizes. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
