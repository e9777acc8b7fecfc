// The compute device tunekit runs on: the first GPU ggml registered (CUDA/Vulkan builds), else the CPU.
// GPU and CPU take the same code path; only the device and its buffer types differ.
import os from "node:os";
import { callPointer, ggml, peek, type Ptr } from "./ffi.js";

export interface DeviceInfo {
  name: string;
  description: string;
  kind: "cpu" | "gpu" | "igpu" | "accel";
  memoryFreeBytes: number;
  memoryTotalBytes: number;
}

/** A CPU "extra" buffer type (AMX, CPU_REPACK): faster kernels for frozen weights in a private layout. */
export interface ExtraBufferType {
  name: string;
  buft: Ptr;
}

export interface Backend {
  /** The ggml backend (stream) all graphs run on. */
  handle: Ptr;
  device: Ptr;
  info: DeviceInfo;
  /** Default buffer type of the device (device memory on a GPU, host memory on the CPU). */
  bufferType: Ptr;
  /** CPU-only faster buffer types for frozen weights; empty on GPU builds. */
  extraBufferTypes: ExtraBufferType[];
  /** CPU features the loaded CPU variant was built for (e.g. AVX512, AMX_INT8). */
  cpuFeatures: Record<string, string>;
  threads: number;
  setThreads(n: number): void;
}

const KINDS = ["cpu", "gpu", "igpu", "accel"] as const;

export function deviceInfo(dev: Ptr): DeviceInfo {
  const g = ggml();
  const free = new BigUint64Array(1);
  const total = new BigUint64Array(1);
  g.ggml_backend_dev_memory(dev, free, total);
  return {
    name: g.ggml_backend_dev_name(dev),
    description: g.ggml_backend_dev_description(dev),
    kind: KINDS[g.ggml_backend_dev_type(dev)] ?? "accel",
    memoryFreeBytes: Number(free[0]),
    memoryTotalBytes: Number(total[0]),
  };
}

/** Every device ggml found. */
export function listDevices(): DeviceInfo[] {
  const g = ggml();
  return Array.from({ length: g.ggml_backend_dev_count() }, (_, i) => deviceInfo(g.ggml_backend_dev_get(i)));
}

function findDevice(kind: DeviceInfo["kind"]): Ptr | undefined {
  const g = ggml();
  for (let i = 0; i < g.ggml_backend_dev_count(); i++) {
    const dev = g.ggml_backend_dev_get(i);
    if (KINDS[g.ggml_backend_dev_type(dev)] === kind) return dev;
  }
  return undefined;
}

function cpuProc(dev: Ptr, name: string): Ptr | null {
  const g = ggml();
  return g.ggml_backend_reg_get_proc_address(g.ggml_backend_dev_backend_reg(dev), name);
}

function readExtraBufferTypes(dev: Ptr): ExtraBufferType[] {
  const fn = cpuProc(dev, "ggml_backend_dev_get_extra_bufts");
  if (!fn) return [];
  const list = callPointer<Ptr | null>(fn, "void* tk_get_extra_bufts(void* dev)", dev);
  const out: ExtraBufferType[] = [];
  for (let i = 0; list; i++) {
    const buft = peek<Ptr | null>(list, i * 8, "void*");
    if (!buft) break;
    out.push({ name: ggml().ggml_backend_buft_name(buft), buft });
  }
  return out;
}

function readCpuFeatures(dev: Ptr): Record<string, string> {
  const fn = cpuProc(dev, "ggml_backend_get_features");
  if (!fn) return {};
  // struct ggml_backend_feature { const char * name; const char * value; }, terminated by name == NULL
  const list = callPointer<Ptr | null>(
    fn,
    "void* tk_get_features(void* reg)",
    ggml().ggml_backend_dev_backend_reg(dev),
  );
  const out: Record<string, string> = {};
  for (let i = 0; list; i++) {
    const name = peek<string | null>(list, i * 16, "const char*");
    if (!name) break;
    out[name] = peek<string>(list, i * 16 + 8, "const char*");
  }
  return out;
}

let current: Backend | undefined;

/** Physical cores are what ggml wants; os.availableParallelism() counts logical CPUs. */
export function defaultThreads(): number {
  const env = Number(process.env.TUNEKIT_THREADS);
  return env > 0 ? env : Math.max(1, os.availableParallelism());
}

/** The process-wide backend, created on first use. */
export function getBackend(): Backend {
  if (current) return current;
  const g = ggml();
  const cpuDev = findDevice("cpu");
  const dev = (process.env.TUNEKIT_BACKEND !== "cpu" && (findDevice("gpu") ?? findDevice("igpu"))) || cpuDev;
  if (!dev) throw new Error("ggml registered no device");
  const handle = g.ggml_backend_dev_init(dev, null);
  if (!handle) throw new Error(`could not initialise ggml device ${g.ggml_backend_dev_name(dev)}`);
  const isCpu = dev === cpuDev;
  const setThreadsFn = isCpu ? cpuProc(dev, "ggml_backend_set_n_threads") : null;
  const backend: Backend = {
    handle,
    device: dev,
    info: deviceInfo(dev),
    bufferType: g.ggml_backend_get_default_buffer_type(handle),
    extraBufferTypes: isCpu ? readExtraBufferTypes(dev) : [],
    cpuFeatures: cpuDev ? readCpuFeatures(cpuDev) : {},
    threads: 1,
    setThreads(n: number) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
      if (setThreadsFn)
        callPointer<void>(setThreadsFn, "void tk_set_n_threads(void* backend, int n)", handle, n);
      backend.threads = n;
    },
  };
  backend.setThreads(defaultThreads());
  current = backend;
  return backend;
}
