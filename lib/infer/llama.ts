// The one place that creates node-llama-cpp's Llama instance (llama.cpp bindings). It is loaded lazily
// through a real dynamic import: node-llama-cpp is ESM with top-level await, which CommonJS callers
// (tslab notebook cells) cannot require.
import type { Llama } from "node-llama-cpp";

let llamaPromise: Promise<Llama> | undefined;

/**
 * node-llama-cpp's Llama, shared by the whole process. The GPU backend (CUDA, Vulkan, Metal) is picked
 * automatically when its prebuilt binaries and a device are present; otherwise the CPU build is used.
 * It never builds llama.cpp from source at run time.
 */
export function getLlamaCpp(): Promise<Llama> {
  llamaPromise ??= import("node-llama-cpp").then(({ getLlama }) =>
    getLlama({ build: "never", gpu: "auto", logLevel: "error" as never, progressLogs: false }),
  );
  return llamaPromise;
}
