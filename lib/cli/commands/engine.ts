// `tunekit doctor` (versions, ggml binaries, devices, CPU features, threads, memory) and
// `tunekit bench matmul` (GFLOP/s of the engine's matmul with a frozen weight of a given type).
import type { Command } from "commander";
import { BENCH_TYPES, benchMatmul, type MatmulBenchResult } from "../../engine/bench.js";
import { doctor, type DoctorReport } from "../../engine/doctor.js";
import { buildCpuEngine } from "../../engine/source-build.js";
import { action, emit, num, type CommonOptions } from "../output.js";

interface BenchOptions extends CommonOptions {
  m: number;
  k: number;
  n: number;
  type: string;
  threads?: number;
  repeat: number;
  extraBuffer: string;
}

export function register(program: Command): void {
  program
    .command("doctor")
    .description("Show versions, the ggml binaries and devices in use, CPU features, threads and memory")
    .option("--json", "one JSON document on stdout")
    .action(action((opts: CommonOptions) => emit(doctor(), opts, renderDoctor)));

  program
    .command("engine")
    .description("Manage the ggml engine libraries")
    .command("build-cpu")
    .description(
      "Build ggml's CPU backend from node-llama-cpp's bundled source for this CPU (needs git, cmake, a C/C++ " +
        "compiler; ~2 min on 2 cores) into ~/.cache/tunekit; once its probe passes, CPU runs use it " +
        "(TUNEKIT_GGML=prebuilt to opt out)",
    )
    .option("--jobs <n>", "parallel compile jobs (default: logical CPUs)", num("--jobs"))
    .option("--force", "rebuild even when a valid build exists")
    .option("--json", "one JSON document on stdout")
    .action(
      action(async (opts: CommonOptions & { jobs?: number; force?: boolean }) => {
        const b = await buildCpuEngine({
          jobs: opts.jobs,
          force: opts.force,
          log: opts.json ? undefined : (line) => process.stderr.write(line + "\n"),
        });
        emit(
          { dir: b.dir, libDir: b.libDir, ...b.manifest },
          opts,
          (r) =>
            `built ${r.libDir} (${r.compiler}); probe ${r.probe?.ok ? "passed" : `failed: ${r.probe?.error}`}`,
        );
      }),
    );

  const bench = program.command("bench").description("Micro-benchmarks of the engine");
  bench
    .command("matmul")
    .description("GFLOP/s of W·x: weight [K, N] in --type, activations [K, M] f32 (median of --repeat runs)")
    .requiredOption("--m <M>", "activation rows (tokens)", num("--m"))
    .requiredOption("--k <K>", "inner dimension", num("--k"))
    .requiredOption("--n <N>", "outputs", num("--n"))
    .option("--type <type>", `weight type: ${BENCH_TYPES.join(", ")}`, "f32")
    .option("--threads <T>", "threads (default: TUNEKIT_THREADS or all logical CPUs)", num("--threads"))
    .option("--repeat <R>", "timed repetitions", num("--repeat"), 10)
    .option("--extra-buffer <name>", "CPU extra buffer for the weight: auto, none, AMX, CPU_REPACK", "auto")
    .option("--json", "one JSON document on stdout")
    .action(
      action((opts: BenchOptions) =>
        emit(
          benchMatmul({
            m: opts.m,
            k: opts.k,
            n: opts.n,
            type: opts.type,
            threads: opts.threads,
            repeat: opts.repeat,
            extraBuffer: opts.extraBuffer,
          }),
          opts,
          renderBench,
        ),
      ),
    );
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

function renderDoctor(r: DoctorReport): string {
  const v = r.versions;
  const feats = Object.keys(r.cpu.ggmlFeatures).join(" ") || "none reported";
  return [
    `tunekit ${v.tunekit} · node ${v.node} · node-llama-cpp ${v.nodeLlamaCpp ?? "not found"} · ggml ${v.ggml} (${v.ggmlCommit})`,
    `binaries: ${r.binaries.origin} ${r.binaries.flavor}${r.binaries.cpuVariant ? `, CPU variant ${r.binaries.cpuVariant}` : ""} in ${r.binaries.folder}`,
    `source build: ${r.binaries.sourceBuild.state}${r.binaries.sourceBuild.probe && !r.binaries.sourceBuild.probe.ok ? ` (${r.binaries.sourceBuild.probe.error})` : ""} — ${r.binaries.sourceBuild.dir}` +
      (r.binaries.sourceBuild.state === "absent" ? " (tunekit engine build-cpu makes it)" : ""),
    `device: ${r.device.name} (${r.device.description}), ${r.device.kind}`,
    ...r.devices.map(
      (d) => `  ${d.name}: ${d.description} — ${gib(d.memoryFreeBytes)} free of ${gib(d.memoryTotalBytes)}`,
    ),
    `cpu: ${r.cpu.model}, ${r.cpu.logicalCores} logical cores`,
    `  ggml features: ${feats}`,
    `  host flags: ${r.cpu.hostFlags.join(" ") || "unknown"}`,
    `extra buffer types: ${r.extraBufferTypes.join(", ") || "none"}`,
    `threads: ${r.threads}`,
    `memory: ${gib(r.memory.freeBytes)} free of ${gib(r.memory.totalBytes)}`,
  ].join("\n");
}

function renderBench(r: MatmulBenchResult): string {
  return (
    `matmul ${r.m}×${r.k} · ${r.k}×${r.n} ${r.type} (${r.buffer}), ${r.threads} threads: ` +
    `${r.gflops.toFixed(1)} GFLOP/s, ${r.ms.toFixed(2)} ms (median of ${r.repeat})`
  );
}
