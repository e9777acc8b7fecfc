// ggml's CPU backend built from the exact source of the pinned binaries (node-llama-cpp's gitRelease.bundle)
// for this machine's CPU (-march=native, GCC or Clang), kept in a per-machine cache. The prebuilt CPU variants
// are compiled for a family of CPUs; on some machines (DESIGN §1) the native build multiplies matrices much
// faster, and the build adds tunekit's own kernels (source-patch.ts: an AVX-512 f32 GEMM). A build is only used
// after a probe in a child process ran it without crashing and got right answers.
//
// The build is renamed apart from node-llama-cpp's libraries: its libraries carry versioned sonames
// (libggml-base.so.0 …) and are loaded by path with RTLD_LOCAL, so node-llama-cpp's own libggml-base.so (soname
// libggml-base.so) stays a separate library in the same process (see test/engine/source-build.test.ts).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError } from "../util/errors.js";
import { writeDirAtomically, writeFileAtomic } from "../util/atomic.js";
import { kernelsHash, patchSources } from "./source-patch.js";

/** The three libraries of a CPU-only ggml, by the soname the build gives them. */
export const SOURCE_LIBRARIES = ["libggml-base.so.0", "libggml-cpu.so.0", "libggml.so.0"] as const;

/** Instruction sets left out of the build: ggml's AMX kernels from this release crashed (SIGILL, DESIGN §1). */
const DISABLED_ISA = ["-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"];

export interface ProbeResult {
  ok: boolean;
  /** ISO time of the probe. */
  at: string;
  /** Why it failed (signal, exit status, a wrong result). */
  error?: string;
  /** ggml_version() and the CPU features the build reports, when it ran. */
  ggml?: string;
  features?: Record<string, string>;
}

export interface SourceBuildManifest {
  /** node-llama-cpp version whose bundle was built (the ABI tunekit's bindings assume). */
  nodeLlamaCpp: string;
  /** Commit of the bundled source. */
  commit: string;
  cpuModel: string;
  /** Hash of the CPU model and instruction-set flags the build was made for. */
  cpuKey: string;
  compiler: string;
  cmakeArgs: string[];
  builtAt: string;
  /** Hash of tunekit's kernel sources compiled in (source-patch.ts). */
  kernels?: string;
  /** Size and modification time of each library, to notice a changed file. */
  libraries: Record<string, { size: number; mtimeMs: number }>;
  probe?: ProbeResult;
}

export interface SourceBuild {
  /** The cache folder of this build. */
  dir: string;
  /** Folder holding the libraries. */
  libDir: string;
  manifest: SourceBuildManifest;
}

function nodeLlamaCppDir(): string {
  const require = createRequire(import.meta.url);
  for (let d = dirname(require.resolve("node-llama-cpp")); dirname(d) !== d; d = dirname(d))
    if (basename(d) === "node-llama-cpp" && existsSync(join(d, "package.json"))) return d;
  throw new EngineError("node-llama-cpp is not installed");
}

/** Version of the pinned node-llama-cpp and its source bundle. */
export function bundledSource(): { version: string; bundle: string } {
  const dir = nodeLlamaCppDir();
  const version = (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string })
    .version;
  return { version, bundle: join(dir, "llama", "gitRelease.bundle") };
}

function cpuInfo(): { model: string; flags: string } {
  let text = "";
  try {
    text = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    // not Linux: the model name from Node is all there is
  }
  const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? os.cpus()[0]?.model ?? "unknown";
  const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(text)?.[1] ?? "";
  return { model, flags: flags.split(/\s+/).sort().join(" ") };
}

/** Key of this machine's CPU: a native build is only valid on the instruction sets it was compiled for. */
export function cpuKey(): string {
  const c = cpuInfo();
  return createHash("sha256")
    .update(`${process.platform}-${process.arch}\n${c.model}\n${c.flags}`)
    .digest("hex")
    .slice(0, 12);
}

/** ~/.cache/tunekit (XDG_CACHE_HOME respected), or TUNEKIT_CACHE. */
export function cacheRoot(): string {
  if (process.env.TUNEKIT_CACHE) return process.env.TUNEKIT_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(os.homedir(), ".cache"), "tunekit");
}

/** Where this machine's build for the pinned node-llama-cpp lives (whether or not it exists). */
export function sourceBuildDir(): string {
  return join(cacheRoot(), `ggml-${bundledSource().version}-${cpuKey()}`);
}

function libraryStats(libDir: string): SourceBuildManifest["libraries"] {
  const out: SourceBuildManifest["libraries"] = {};
  for (const name of SOURCE_LIBRARIES) {
    const st = statSync(join(libDir, name));
    out[name] = { size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
  }
  return out;
}

/** This machine's build when its manifest matches its libraries (probed or not), else undefined. */
export function findSourceBuild(dir = sourceBuildDir()): SourceBuild | undefined {
  const libDir = join(dir, "lib");
  let manifest: SourceBuildManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as SourceBuildManifest;
    const now = libraryStats(libDir);
    for (const name of SOURCE_LIBRARIES) {
      const m = manifest.libraries?.[name];
      if (!m || m.size !== now[name].size || m.mtimeMs !== now[name].mtimeMs) return undefined;
    }
  } catch {
    return undefined;
  }
  if (manifest.cpuKey !== cpuKey() || manifest.nodeLlamaCpp !== bundledSource().version) return undefined;
  if (manifest.kernels !== kernelsHash()) return undefined;
  return { dir, libDir, manifest };
}

/** The probe script: compiled next to this file (dist) or run through tsx (sources). */
function probeScript(): string {
  const here = fileURLToPath(import.meta.url);
  return join(dirname(here), `source-probe${here.endsWith(".ts") ? ".ts" : ".js"}`);
}

/** Node flags a child needs to run this code (the tsx loader under tsx; nothing for compiled code). */
function loaderArgs(): string[] {
  const out: string[] = [];
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    const flag = a[i];
    if (
      ["--import", "--require", "-r", "--loader", "--experimental-loader"].includes(flag) &&
      i + 1 < a.length
    )
      out.push(flag, a[++i]);
    else if (/^--(import|require|loader|experimental-loader)=/.test(flag)) out.push(flag);
  }
  return out;
}

/**
 * Runs the probe (source-probe.ts) in a child process against `libDir`: loads the libraries, multiplies small
 * f32/f16/q8_0/q4_K matrices (extra buffers included) and compares with a reference computed in JavaScript,
 * and runs a backward pass. A crash (SIGILL on a CPU without an instruction the build used) only ends the child.
 */
export function probeSourceBuild(libDir: string): ProbeResult {
  const at = new Date().toISOString();
  const r = spawnSync(process.execPath, [...loaderArgs(), probeScript()], {
    env: { ...process.env, TUNEKIT_GGML_DIR: libDir, TUNEKIT_GGML: "source" },
    encoding: "utf8",
    timeout: 120_000,
  });
  if (r.error) return { ok: false, at, error: `probe did not run: ${r.error.message}` };
  if (r.signal) return { ok: false, at, error: `probe killed by ${r.signal}` };
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    const out = JSON.parse(last) as Omit<ProbeResult, "at">;
    return { ...out, at };
  } catch {
    const why = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" ");
    return { ok: false, at, error: `probe exited with status ${r.status}: ${why}` };
  }
}

/**
 * This machine's build when it exists and has passed its probe (probing it now, once, when the manifest has no
 * result yet). Never throws: an unusable build is reported by {@link sourceBuildStatus} and skipped.
 */
export function usableSourceBuild(): SourceBuild | undefined {
  const b = findSourceBuild();
  if (!b) return undefined;
  if (!b.manifest.probe) {
    b.manifest.probe = probeSourceBuild(b.libDir);
    try {
      writeFileAtomic(join(b.dir, "manifest.json"), JSON.stringify(b.manifest, null, 2) + "\n");
    } catch {
      // a read-only cache: the probe runs again next time
    }
  }
  return b.manifest.probe.ok ? b : undefined;
}

/** What `doctor` shows about the source build. */
export function sourceBuildStatus(): {
  dir: string;
  state: "absent" | "stale-or-damaged" | "probe-failed" | "ok";
  probe?: ProbeResult;
} {
  const dir = sourceBuildDir();
  const b = findSourceBuild(dir);
  if (!b) return { dir, state: existsSync(dir) ? "stale-or-damaged" : "absent" };
  const probe = b.manifest.probe;
  return { dir, state: probe?.ok === false ? "probe-failed" : "ok", probe };
}

export interface BuildCpuOptions {
  /** Parallel compile jobs. Default: the number of logical CPUs. */
  jobs?: number;
  /** Rebuild even when a valid build exists. */
  force?: boolean;
  /** Progress lines (commands and their output tails). */
  log?: (line: string) => void;
}

function which(cmd: string): boolean {
  return spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
}

function run(cmd: string, args: string[], o: { cwd?: string; log: (line: string) => void }): Promise<void> {
  o.log(`$ ${cmd} ${args.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    const take = (b: Buffer) => {
      for (const line of b.toString().split("\n")) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (/^\[\d+\/\d+\]/.test(line)) o.log(line); // ninja progress
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (e) => reject(new EngineError(`${cmd} did not start: ${e.message}`)));
    child.on("close", (code, signal) =>
      code === 0
        ? resolve()
        : reject(new EngineError(`${cmd} failed (${signal ?? `status ${code}`}):\n${tail.join("\n")}`)),
    );
  });
}

/**
 * Builds ggml-base, ggml-cpu and ggml from the bundled source for this CPU into the cache (about 2 minutes on
 * 2 cores), probes the result in a child process and records it in manifest.json. Needs git, cmake and a C/C++
 * compiler (ninja is used when present).
 */
export async function buildCpuEngine(o: BuildCpuOptions = {}): Promise<SourceBuild> {
  const log = o.log ?? (() => {});
  if (process.platform !== "linux")
    throw new EngineError("building the CPU engine from source is supported on Linux only");
  const dir = sourceBuildDir();
  const existing = findSourceBuild(dir);
  if (existing && !o.force && existing.manifest.probe?.ok) {
    log(`already built: ${dir}`);
    return existing;
  }
  const missing = ["git", "cmake", "c++", "cc"].filter((t) => !which(t));
  if (missing.length)
    throw new EngineError(
      `building needs ${missing.join(", ")} on PATH (Debian/Ubuntu: apt-get install git cmake build-essential)`,
    );
  const { version, bundle } = bundledSource();
  if (!existsSync(bundle)) throw new EngineError(`node-llama-cpp's source bundle is missing: ${bundle}`);
  const jobs = o.jobs ?? os.availableParallelism();
  const compiler = spawnSync("c++", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0].trim();
  const ninja = which("ninja");
  const cmakeArgs = [
    ...(ninja ? ["-G", "Ninja"] : []),
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=ON",
    "-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON",
    "-DGGML_NATIVE=ON",
    "-DGGML_BACKEND_DL=OFF",
    // ggml's own thread pool, as in the prebuilt binaries: with OpenMP, processes crashed (SIGSEGV) at exit
    // when the machine was loaded (3 of 8 probes, with or without tunekit's kernels)
    "-DGGML_OPENMP=OFF",
    "-DLLAMA_BUILD_COMMON=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_OPENSSL=OFF",
    `-DCMAKE_C_FLAGS=${DISABLED_ISA.join(" ")}`,
    `-DCMAKE_CXX_FLAGS=${DISABLED_ISA.join(" ")}`,
  ];
  const work = join(cacheRoot(), `.build-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const src = join(work, "src");
    const build = join(work, "build");
    await run("git", ["clone", "-q", "--depth", "1", bundle, src], { log });
    const commit = spawnSync("git", ["-C", src, "rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
    }).stdout.trim();
    patchSources(src);
    await run("cmake", ["-S", src, "-B", build, ...cmakeArgs], { log });
    await run("cmake", ["--build", build, "-j", String(jobs), "--target", "ggml-base", "ggml-cpu", "ggml"], {
      log,
    });
    let result: SourceBuild | undefined;
    await writeDirAtomically(dir, (tmp) => {
      const libDir = join(tmp, "lib");
      mkdirSync(libDir);
      const bin = join(build, "bin");
      for (const name of SOURCE_LIBRARIES) {
        if (!existsSync(join(bin, name)))
          throw new EngineError(`the build made no ${name} (found: ${readdirSync(bin).join(", ")})`);
        copyFileSync(join(bin, name), join(libDir, name)); // follows the symlink to the versioned file
      }
      const manifest: SourceBuildManifest = {
        nodeLlamaCpp: version,
        commit,
        cpuModel: cpuInfo().model,
        cpuKey: cpuKey(),
        compiler,
        cmakeArgs,
        kernels: kernelsHash(),
        builtAt: new Date().toISOString(),
        libraries: libraryStats(libDir),
      };
      log("probing the build in a child process …");
      manifest.probe = probeSourceBuild(libDir);
      writeFileAtomic(join(tmp, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
      result = { dir, libDir: join(dir, "lib"), manifest };
    });
    const probe = result!.manifest.probe!;
    if (!probe.ok) throw new EngineError(`the build failed its probe and will not be used: ${probe.error}`);
    return result!;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
