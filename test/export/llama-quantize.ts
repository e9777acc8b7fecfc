// llama.cpp's own quantizer (llama_model_quantize in the bundled libllama), called through koffi: the
// reference the tests compare tunekit's per-tensor type choices (and bytes) with.
import koffi from "koffi";
import { join } from "node:path";
import { findBinaryFolder } from "../../lib/engine/binaries.js";
import { ggml } from "../../lib/engine/ffi.js";

let fns:
  | { defaults: () => Record<string, unknown>; quantize: (i: string, o: string, p: unknown) => number }
  | undefined;

function bind() {
  if (fns) return fns;
  ggml(); // loads libggml-base and the CPU backends first, so libllama shares them
  const lib = koffi.load(join(findBinaryFolder().prebuiltDir, "libllama.v0.5.0.so"));
  // llama.h struct llama_model_quantize_params of the pinned release
  const Params = koffi.struct("tk_llama_model_quantize_params", {
    nthread: "int32_t",
    ftype: "int",
    output_tensor_type: "int",
    token_embedding_type: "int",
    allow_requantize: "bool",
    quantize_output_tensor: "bool",
    only_copy: "bool",
    pure: "bool",
    keep_split: "bool",
    dry_run: "bool",
    imatrix: "void*",
    kv_overrides: "void*",
    tt_overrides: "void*",
    prune_layers: "void*",
    max_buf_size: "size_t",
  });
  const defaults = lib.func("tk_llama_model_quantize_params llama_model_quantize_default_params()");
  const quantize = lib.func(
    "uint32_t llama_model_quantize(const char*, const char*, const tk_llama_model_quantize_params* params)",
  );
  void Params;
  // llama.cpp logs every tensor to stderr; a no-op callback keeps test output readable
  const LogCb = koffi.proto("void tk_llama_log_cb(int level, const char* text, void* user)");
  const setLog = lib.func("void llama_log_set(tk_llama_log_cb* cb, void* user)");
  setLog(
    koffi.register(() => {}, koffi.pointer(LogCb)),
    null,
  );
  fns = { defaults, quantize };
  return fns;
}

let entryType: ReturnType<typeof koffi.struct> | undefined;

/**
 * Runs llama.cpp's quantizer (one thread) for LLAMA_FTYPE `ftype`, optionally with importance-matrix data
 * (tensor name → per-column weights, what llama-quantize passes after reading an imatrix file); throws
 * when it reports failure.
 */
export function llamaQuantize(
  input: string,
  output: string,
  ftype: number,
  imatrix?: Map<string, Float32Array>,
): void {
  const { defaults, quantize } = bind();
  const p: Record<string, unknown> = { ...defaults(), ftype, nthread: 1 };
  if (imatrix) {
    // struct llama_model_imatrix_data { const char * name; const float * data; size_t size; }[], null-terminated
    entryType ??= koffi.struct("tk_llama_model_imatrix_data", {
      name: "void*",
      data: "void*",
      size: "size_t",
    });
    const Entry = entryType;
    const entries = koffi.alloc(Entry, imatrix.size + 1);
    let i = 0;
    for (const [name, values] of imatrix) {
      const bytes = Buffer.from(name + "\0");
      const namePtr = koffi.alloc("uint8_t", bytes.length);
      koffi.encode(namePtr, "uint8_t", [...bytes], bytes.length);
      const dataPtr = koffi.alloc("float", values.length);
      koffi.encode(dataPtr, "float", [...values], values.length);
      koffi.encode(entries, i * koffi.sizeof(Entry), Entry, {
        name: namePtr,
        data: dataPtr,
        size: values.length,
      });
      i++;
    }
    koffi.encode(entries, i * koffi.sizeof(Entry), Entry, { name: null, data: null, size: 0 });
    p.imatrix = entries;
  }
  const rc = quantize(input, output, p);
  if (rc !== 0) throw new Error(`llama_model_quantize failed (${rc})`);
}
