// Raw FFI bindings (koffi) to the prebuilt ggml of node-llama-cpp. Only this file and lib/engine/ talk to
// them; everything else uses the typed wrappers (Context, Tensor, ops, Graph). Pointers are bigint or null.
import koffi from "koffi";
import { findBinaryFolder, type BinaryFolder } from "./binaries.js";

export type Ptr = bigint;
export type NullablePtr = bigint | null;

type F<A extends unknown[], R> = (...args: A) => R;

export const InitParams = koffi.struct("tk_ggml_init_params", {
  mem_size: "size_t",
  mem_buffer: "void*",
  no_alloc: "bool",
});
const LogCallback = koffi.proto("void tk_ggml_log_callback(int level, const char* text, void* ud)");

function bind(folder: BinaryFolder) {
  // by path, RTLD_LOCAL (koffi's default): a source build's libraries stay apart from node-llama-cpp's
  const base = koffi.load(folder.baseLibrary);
  const main = koffi.load(folder.mainLibrary);
  const b = <A extends unknown[], R>(proto: string) => base.func(proto) as unknown as F<A, R>;
  const m = <A extends unknown[], R>(proto: string) => main.func(proto) as unknown as F<A, R>;
  type T = Ptr; // ggml_tensor*
  type C = Ptr; // ggml_context*
  return {
    folder,
    // --- context and tensors ---
    ggml_init: b<[{ mem_size: number; mem_buffer: null; no_alloc: boolean }], NullablePtr>(
      "void* ggml_init(tk_ggml_init_params p)",
    ),
    ggml_free: b<[C], void>("void ggml_free(void* ctx)"),
    ggml_tensor_overhead: b<[], number>("size_t ggml_tensor_overhead()"),
    ggml_graph_overhead_custom: b<[number, boolean], number>(
      "size_t ggml_graph_overhead_custom(size_t size, bool grads)",
    ),
    ggml_new_tensor: b<[C, number, number, BigInt64Array], T>(
      "void* ggml_new_tensor(void* ctx, int type, int n_dims, const int64_t* ne)",
    ),
    ggml_dup_tensor: b<[C, T], T>("void* ggml_dup_tensor(void* ctx, void* src)"),
    ggml_set_name: b<[T, string], T>("void* ggml_set_name(void* t, const char* name)"),
    ggml_get_name: b<[T], string>("const char* ggml_get_name(void* t)"),
    ggml_set_param: b<[T], void>("void ggml_set_param(void* t)"),
    ggml_set_loss: b<[T], void>("void ggml_set_loss(void* t)"),
    ggml_set_input: b<[T], void>("void ggml_set_input(void* t)"),
    ggml_set_output: b<[T], void>("void ggml_set_output(void* t)"),
    ggml_nbytes: b<[T], number>("size_t ggml_nbytes(void* t)"),
    ggml_row_size: b<[number, number], number>("size_t ggml_row_size(int type, int64_t ne)"),
    ggml_type_name: b<[number], string | null>("const char* ggml_type_name(int type)"),
    ggml_op_name: b<[number], string | null>("const char* ggml_op_name(int op)"),
    ggml_blck_size: b<[number], number>("int64_t ggml_blck_size(int type)"),
    ggml_type_size: b<[number], number>("size_t ggml_type_size(int type)"),
    ggml_get_first_tensor: b<[C], NullablePtr>("void* ggml_get_first_tensor(void* ctx)"),
    ggml_get_next_tensor: b<[C, T], NullablePtr>("void* ggml_get_next_tensor(void* ctx, void* t)"),
    ggml_version: b<[], string>("const char* ggml_version()"),
    ggml_commit: b<[], string>("const char* ggml_commit()"),
    ggml_log_set: b<[unknown, null], void>("void ggml_log_set(tk_ggml_log_callback* cb, void* ud)"),
    // --- ops ---
    ggml_get_rows: b<[C, T, T], T>("void* ggml_get_rows(void* ctx, void* a, void* b)"),
    ggml_set_rows: b<[C, T, T, T], T>("void* ggml_set_rows(void* ctx, void* a, void* b, void* c)"),
    ggml_mul_mat: b<[C, T, T], T>("void* ggml_mul_mat(void* ctx, void* a, void* b)"),
    ggml_mul_mat_set_prec: b<[T, number], void>("void ggml_mul_mat_set_prec(void* a, int prec)"),
    ggml_out_prod: b<[C, T, T], T>("void* ggml_out_prod(void* ctx, void* a, void* b)"),
    ggml_add: b<[C, T, T], T>("void* ggml_add(void* ctx, void* a, void* b)"),
    ggml_sub: b<[C, T, T], T>("void* ggml_sub(void* ctx, void* a, void* b)"),
    ggml_mul: b<[C, T, T], T>("void* ggml_mul(void* ctx, void* a, void* b)"),
    ggml_div: b<[C, T, T], T>("void* ggml_div(void* ctx, void* a, void* b)"),
    ggml_scale: b<[C, T, number], T>("void* ggml_scale(void* ctx, void* a, float s)"),
    ggml_sqr: b<[C, T], T>("void* ggml_sqr(void* ctx, void* a)"),
    ggml_sqrt: b<[C, T], T>("void* ggml_sqrt(void* ctx, void* a)"),
    ggml_log: b<[C, T], T>("void* ggml_log(void* ctx, void* a)"),
    ggml_exp: b<[C, T], T>("void* ggml_exp(void* ctx, void* a)"),
    ggml_neg: b<[C, T], T>("void* ggml_neg(void* ctx, void* a)"),
    ggml_abs: b<[C, T], T>("void* ggml_abs(void* ctx, void* a)"),
    ggml_sgn: b<[C, T], T>("void* ggml_sgn(void* ctx, void* a)"),
    ggml_softplus: b<[C, T], T>("void* ggml_softplus(void* ctx, void* a)"),
    ggml_silu: b<[C, T], T>("void* ggml_silu(void* ctx, void* a)"),
    ggml_relu: b<[C, T], T>("void* ggml_relu(void* ctx, void* a)"),
    ggml_gelu: b<[C, T], T>("void* ggml_gelu(void* ctx, void* a)"),
    ggml_tanh: b<[C, T], T>("void* ggml_tanh(void* ctx, void* a)"),
    ggml_swiglu_split: b<[C, T, T], T>("void* ggml_swiglu_split(void* ctx, void* a, void* b)"),
    ggml_sum: b<[C, T], T>("void* ggml_sum(void* ctx, void* a)"),
    ggml_sum_rows: b<[C, T], T>("void* ggml_sum_rows(void* ctx, void* a)"),
    ggml_mean: b<[C, T], T>("void* ggml_mean(void* ctx, void* a)"),
    ggml_repeat: b<[C, T, T], T>("void* ggml_repeat(void* ctx, void* a, void* b)"),
    ggml_repeat_4d: b<[C, T, number, number, number, number], T>(
      "void* ggml_repeat_4d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)",
    ),
    ggml_concat: b<[C, T, T, number], T>("void* ggml_concat(void* ctx, void* a, void* b, int dim)"),
    ggml_rms_norm: b<[C, T, number], T>("void* ggml_rms_norm(void* ctx, void* a, float eps)"),
    ggml_norm: b<[C, T, number], T>("void* ggml_norm(void* ctx, void* a, float eps)"),
    ggml_rope_ext: b<
      [C, T, T, NullablePtr, number, number, number, number, number, number, number, number, number],
      T
    >(
      "void* ggml_rope_ext(void* ctx, void* a, void* b, void* c, int n_dims, int mode, int n_ctx_orig, float freq_base, float freq_scale, float ext_factor, float attn_factor, float beta_fast, float beta_slow)",
    ),
    ggml_soft_max_ext: b<[C, T, NullablePtr, number, number], T>(
      "void* ggml_soft_max_ext(void* ctx, void* a, void* mask, float scale, float max_bias)",
    ),
    ggml_diag_mask_inf: b<[C, T, number], T>("void* ggml_diag_mask_inf(void* ctx, void* a, int n_past)"),
    ggml_cross_entropy_loss: b<[C, T, T], T>("void* ggml_cross_entropy_loss(void* ctx, void* a, void* b)"),
    ggml_reshape_1d: b<[C, T, number], T>("void* ggml_reshape_1d(void* ctx, void* a, int64_t ne0)"),
    ggml_reshape_2d: b<[C, T, number, number], T>(
      "void* ggml_reshape_2d(void* ctx, void* a, int64_t ne0, int64_t ne1)",
    ),
    ggml_reshape_3d: b<[C, T, number, number, number], T>(
      "void* ggml_reshape_3d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2)",
    ),
    ggml_reshape_4d: b<[C, T, number, number, number, number], T>(
      "void* ggml_reshape_4d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)",
    ),
    ggml_view_4d: b<[C, T, number, number, number, number, number, number, number, number], T>(
      "void* ggml_view_4d(void* ctx, void* a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, size_t nb1, size_t nb2, size_t nb3, size_t offset)",
    ),
    ggml_permute: b<[C, T, number, number, number, number], T>(
      "void* ggml_permute(void* ctx, void* a, int ax0, int ax1, int ax2, int ax3)",
    ),
    ggml_transpose: b<[C, T], T>("void* ggml_transpose(void* ctx, void* a)"),
    ggml_cont: b<[C, T], T>("void* ggml_cont(void* ctx, void* a)"),
    ggml_cpy: b<[C, T, T], T>("void* ggml_cpy(void* ctx, void* a, void* b)"),
    ggml_cast: b<[C, T, number], T>("void* ggml_cast(void* ctx, void* a, int type)"),
    ggml_argmax: b<[C, T], T>("void* ggml_argmax(void* ctx, void* a)"),
    // --- convolution, padding, pooling, resizing (vision encoders) ---
    ggml_conv_2d_direct: b<[C, T, T, number, number, number, number, number, number], T>(
      "void* ggml_conv_2d_direct(void* ctx, void* a, void* b, int s0, int s1, int p0, int p1, int d0, int d1)",
    ),
    ggml_conv_2d_dw: b<[C, T, T, number, number, number, number, number, number], T>(
      "void* ggml_conv_2d_dw(void* ctx, void* a, void* b, int s0, int s1, int p0, int p1, int d0, int d1)",
    ),
    ggml_pad_ext: b<[C, T, number, number, number, number, number, number, number, number], T>(
      "void* ggml_pad_ext(void* ctx, void* a, int lp0, int rp0, int lp1, int rp1, int lp2, int rp2, int lp3, int rp3)",
    ),
    ggml_upscale: b<[C, T, number, number], T>(
      "void* ggml_upscale(void* ctx, void* a, int scale_factor, int mode)",
    ),
    ggml_pool_2d: b<[C, T, number, number, number, number, number, number, number], T>(
      "void* ggml_pool_2d(void* ctx, void* a, int op, int k0, int k1, int s0, int s1, float p0, float p1)",
    ),
    ggml_opt_step_adamw: b<[C, T, T, T, T, T], T>(
      "void* ggml_opt_step_adamw(void* ctx, void* a, void* grad, void* m, void* v, void* params)",
    ),
    // --- graphs and autograd ---
    ggml_new_graph_custom: b<[C, number, boolean], Ptr>(
      "void* ggml_new_graph_custom(void* ctx, size_t size, bool grads)",
    ),
    ggml_build_forward_expand: b<[Ptr, T], void>("void ggml_build_forward_expand(void* g, void* t)"),
    ggml_build_backward_expand: b<[C, Ptr, BigUint64Array | null], void>(
      "void ggml_build_backward_expand(void* ctx, void* g, void** grad_accs)",
    ),
    ggml_graph_dup: b<[C, Ptr, boolean], Ptr>("void* ggml_graph_dup(void* ctx, void* g, bool force_grads)"),
    ggml_graph_reset: b<[Ptr], void>("void ggml_graph_reset(void* g)"),
    ggml_graph_n_nodes: b<[Ptr], number>("int ggml_graph_n_nodes(void* g)"),
    ggml_graph_node: b<[Ptr, number], T>("void* ggml_graph_node(void* g, int i)"),
    ggml_graph_size: b<[Ptr], number>("int ggml_graph_size(void* g)"),
    ggml_graph_get_grad: b<[Ptr, T], NullablePtr>("void* ggml_graph_get_grad(void* g, void* t)"),
    ggml_graph_get_grad_acc: b<[Ptr, T], NullablePtr>("void* ggml_graph_get_grad_acc(void* g, void* t)"),
    // --- quantization ---
    ggml_quantize_chunk: b<
      [number, Float32Array, Uint8Array, number, number, number, Float32Array | null],
      number
    >(
      "size_t ggml_quantize_chunk(int type, const float* src, void* dst, int64_t start, int64_t nrows, int64_t n_per_row, const float* imatrix)",
    ),
    ggml_quantize_requires_imatrix: b<[number], boolean>("bool ggml_quantize_requires_imatrix(int type)"),
    ggml_validate_row_data: b<[number, Uint8Array, number], boolean>(
      "bool ggml_validate_row_data(int type, const void* data, size_t nbytes)",
    ),
    ggml_get_type_traits: b<[number], Ptr>("void* ggml_get_type_traits(int type)"),
    // --- backends (libggml) ---
    ggml_backend_load_all_from_path: m<[string], void>(
      "void ggml_backend_load_all_from_path(const char* dir)",
    ),
    ggml_backend_dev_count: m<[], number>("size_t ggml_backend_dev_count()"),
    ggml_backend_dev_get: m<[number], Ptr>("void* ggml_backend_dev_get(size_t i)"),
    ggml_backend_dev_init: m<[Ptr, string | null], NullablePtr>(
      "void* ggml_backend_dev_init(void* dev, const char* params)",
    ),
    ggml_backend_reg_count: m<[], number>("size_t ggml_backend_reg_count()"),
    ggml_backend_reg_get: m<[number], Ptr>("void* ggml_backend_reg_get(size_t i)"),
    // --- backends (libggml-base) ---
    ggml_backend_dev_name: b<[Ptr], string>("const char* ggml_backend_dev_name(void* dev)"),
    ggml_backend_dev_description: b<[Ptr], string>("const char* ggml_backend_dev_description(void* dev)"),
    ggml_backend_dev_type: b<[Ptr], number>("int ggml_backend_dev_type(void* dev)"),
    ggml_backend_dev_memory: b<[Ptr, BigUint64Array, BigUint64Array], void>(
      "void ggml_backend_dev_memory(void* dev, _Out_ size_t* free, _Out_ size_t* total)",
    ),
    ggml_backend_dev_backend_reg: b<[Ptr], Ptr>("void* ggml_backend_dev_backend_reg(void* dev)"),
    ggml_backend_dev_supports_op: b<[Ptr, T], boolean>(
      "bool ggml_backend_dev_supports_op(void* dev, void* op)",
    ),
    ggml_backend_dev_supports_buft: b<[Ptr, Ptr], boolean>(
      "bool ggml_backend_dev_supports_buft(void* dev, void* buft)",
    ),
    ggml_backend_reg_name: b<[Ptr], string>("const char* ggml_backend_reg_name(void* reg)"),
    ggml_backend_reg_get_proc_address: b<[Ptr, string], NullablePtr>(
      "void* ggml_backend_reg_get_proc_address(void* reg, const char* name)",
    ),
    ggml_backend_free: b<[Ptr], void>("void ggml_backend_free(void* backend)"),
    ggml_backend_name: b<[Ptr], string>("const char* ggml_backend_name(void* backend)"),
    ggml_backend_get_device: b<[Ptr], Ptr>("void* ggml_backend_get_device(void* backend)"),
    ggml_backend_get_default_buffer_type: b<[Ptr], Ptr>(
      "void* ggml_backend_get_default_buffer_type(void* backend)",
    ),
    ggml_backend_buft_name: b<[Ptr], string>("const char* ggml_backend_buft_name(void* buft)"),
    ggml_backend_buft_alloc_buffer: b<[Ptr, number], NullablePtr>(
      "void* ggml_backend_buft_alloc_buffer(void* buft, size_t size)",
    ),
    ggml_backend_buft_is_host: b<[Ptr], boolean>("bool ggml_backend_buft_is_host(void* buft)"),
    ggml_backend_buffer_get_type: b<[Ptr], Ptr>("void* ggml_backend_buffer_get_type(void* buf)"),
    ggml_backend_alloc_ctx_tensors_from_buft: b<[C, Ptr], NullablePtr>(
      "void* ggml_backend_alloc_ctx_tensors_from_buft(void* ctx, void* buft)",
    ),
    ggml_backend_buffer_free: b<[Ptr], void>("void ggml_backend_buffer_free(void* buf)"),
    ggml_backend_buffer_get_size: b<[Ptr], number>("size_t ggml_backend_buffer_get_size(void* buf)"),
    ggml_backend_buffer_clear: b<[Ptr, number], void>(
      "void ggml_backend_buffer_clear(void* buf, uint8_t value)",
    ),
    ggml_backend_buffer_set_usage: b<[Ptr, number], void>(
      "void ggml_backend_buffer_set_usage(void* buf, int usage)",
    ),
    ggml_backend_buffer_is_host: b<[Ptr], boolean>("bool ggml_backend_buffer_is_host(void* buf)"),
    ggml_backend_tensor_set: b<[T, ArrayBufferView, number, number], void>(
      "void ggml_backend_tensor_set(void* t, const void* data, size_t offset, size_t size)",
    ),
    ggml_backend_tensor_get: b<[T, ArrayBufferView, number, number], void>(
      "void ggml_backend_tensor_get(void* t, _Out_ void* data, size_t offset, size_t size)",
    ),
    ggml_backend_tensor_memset: b<[T, number, number, number], void>(
      "void ggml_backend_tensor_memset(void* t, uint8_t value, size_t offset, size_t size)",
    ),
    ggml_backend_graph_compute: b<[Ptr, Ptr], number>(
      "int ggml_backend_graph_compute(void* backend, void* g)",
    ),
    ggml_backend_synchronize: b<[Ptr], void>("void ggml_backend_synchronize(void* backend)"),
    // --- graph allocator ---
    ggml_gallocr_new: b<[Ptr], Ptr>("void* ggml_gallocr_new(void* buft)"),
    ggml_gallocr_free: b<[Ptr], void>("void ggml_gallocr_free(void* galloc)"),
    ggml_gallocr_alloc_graph: b<[Ptr, Ptr], boolean>("bool ggml_gallocr_alloc_graph(void* galloc, void* g)"),
    ggml_gallocr_get_buffer_size: b<[Ptr, number], number>(
      "size_t ggml_gallocr_get_buffer_size(void* galloc, int id)",
    ),
  };
}

export type GgmlApi = ReturnType<typeof bind>;

let api: GgmlApi | undefined;
let logCallback: unknown;
/** Messages ggml logged (warnings and errors are kept; info/debug dropped) — ggml never writes to stderr. */
export const ggmlLog: string[] = [];

/** Loads ggml once per process: log routing first, then every backend library of the chosen folder. */
export function ggml(): GgmlApi {
  if (api) return api;
  const a = bind(findBinaryFolder());
  // GGML_LOG_LEVEL: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
  logCallback = koffi.register((level: number, text: string) => {
    if (level >= 3 && level !== 5) {
      ggmlLog.push(text);
      if (ggmlLog.length > 200) ggmlLog.shift();
      if (process.env.TUNEKIT_GGML_LOG) process.stderr.write(text);
    }
  }, koffi.pointer(LogCallback));
  a.ggml_log_set(logCallback, null);
  // a source build has its CPU backend linked in; prebuilt folders hold one library per backend/CPU variant
  if (!a.folder.source) a.ggml_backend_load_all_from_path(a.folder.dir);
  api = a;
  return a;
}

/** Calls a C function pointer obtained from ggml (e.g. through get_proc_address). */
const protos = new Map<string, unknown>();
export function callPointer<R>(fnPtr: Ptr, proto: string, ...args: unknown[]): R {
  let p = protos.get(proto);
  if (!p) protos.set(proto, (p = koffi.proto(proto)));
  return koffi.call(fnPtr, p as never, ...args) as R;
}

/** Reads a field of a C struct at a byte offset. */
export function peek<T = unknown>(ptr: Ptr, offset: number, type: string): T {
  return koffi.decode(ptr, offset, type) as T;
}
/** Writes a field of a C struct at a byte offset. */
export function poke(ptr: Ptr, offset: number, type: string, value: unknown): void {
  koffi.encode(ptr, offset, type, value);
}
/** A zero-copy view of native memory. */
export function view(ptr: Ptr, nbytes: number): ArrayBuffer {
  return koffi.view(ptr, nbytes) as ArrayBuffer;
}
