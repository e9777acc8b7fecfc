// `tunekit doctor` (versions, ggml binaries, devices, CPU features, threads, memory) and
// `tunekit bench matmul` (GFLOP/s of the engine's matmul with a frozen weight of a given type).
import type { Command } from "commander";
import { BENCH_TYPES, benchMatmul, type MatmulBenchResult } from "../../engine/bench.js";
import { doctor, type DoctorReport } from "../../engine/doctor.js";
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
    `binaries: ${r.binaries.flavor}${r.binaries.cpuVariant ? `, CPU variant ${r.binaries.cpuVariant}` : ""} in ${r.binaries.folder}`,
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
