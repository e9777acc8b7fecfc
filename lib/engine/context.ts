// A ggml context holds tensor *descriptions* (no_alloc): memory comes from backend buffers (weights,
// optimizer state) or from a graph allocator (activations). Freeing is explicit, like node-llama-cpp.
import { EngineError } from "../util/errors.js";
import { GgmlType, isGgmlType, ggmlTypeName, blockSize } from "../gguf/ggml-types.js";
import { getBackend } from "./backend.js";
import { ggml, type Ptr } from "./ffi.js";
import { Tensor } from "./tensor.js";
import { isExtraBufferType, registerPrivateBuffer, unregisterPrivateBuffer } from "./private-layout.js";

export interface ContextOptions {
  /** Most tensors (incl. graph nodes) the context will hold. */
  maxTensors: number;
  /** Nodes of the largest graph built in this context (0 when no graph is built here). */
  graphSize?: number;
  /** Whether graphs built here carry gradients (backward pass). */
  grads?: boolean;
}

export const MAX_DIMS = 4;

/** Owns a set of tensor descriptions and the backend buffers allocated for them. */
export class Context {
  readonly ptr: Ptr;
  private buffers: Ptr[] = [];
  private freed = false;
  private count = 0;
  readonly capacity: number;
  /** Bytes of the memory pool set aside for graph objects, and how many are used. */
  private readonly graphBudget: number;
  private graphBytes = 0;

  constructor(readonly options: ContextOptions) {
    const g = ggml();
    const graphBytes = options.graphSize
      ? 2 * g.ggml_graph_overhead_custom(options.graphSize, !!options.grads)
      : 0;
    const memSize = options.maxTensors * g.ggml_tensor_overhead() + graphBytes + 4096;
    const ptr = g.ggml_init({ mem_size: memSize, mem_buffer: null, no_alloc: true });
    if (!ptr) throw new EngineError(`ggml_init failed for ${memSize} bytes`);
    this.ptr = ptr;
    this.capacity = options.maxTensors;
    this.graphBudget = graphBytes;
  }

  /** Counts a graph object against the pool (ggml aborts when a graph does not fit in its context). */
  reserveGraph(size: number, grads: boolean): void {
    this.assertAlive();
    if (!Number.isSafeInteger(size) || size < 1)
      throw new EngineError(`graph size ${size} must be a positive integer`);
    const bytes = ggml().ggml_graph_overhead_custom(size, grads);
    if (this.graphBytes + bytes > this.graphBudget)
      throw new EngineError(
        `no room for a graph of ${size} nodes${grads ? " with gradients" : ""} in this context ` +
          `(created with graphSize ${this.options.graphSize ?? 0}${this.options.grads ? ", grads" : ""}; ` +
          `it holds two graphs of that size)`,
      );
    this.graphBytes += bytes;
  }

  /** Tensors that can still be created in this context. */
  get room(): number {
    return this.capacity - this.count;
  }

  /** Counts a tensor against the capacity (ggml aborts when a context overflows). */
  reserve(n = 1): void {
    this.assertAlive();
    if (this.count + n > this.capacity)
      throw new EngineError(`ggml context full: ${this.capacity} tensors (raise maxTensors)`);
    this.count += n;
  }

  assertAlive(): void {
    if (this.freed) throw new EngineError("ggml context used after free()");
  }

  /** A new tensor. `shape` is in ggml order (shape[0] is the row length), 1 to 4 dimensions. */
  tensor(type: number, shape: readonly number[], name?: string): Tensor {
    validateShape(type, shape);
    this.reserve();
    const ne = new BigInt64Array(shape.map((n) => BigInt(n)));
    const t = new Tensor(ggml().ggml_new_tensor(this.ptr, type, shape.length, ne));
    if (name) t.setName(name);
    return t;
  }

  /**
   * A graph input: data written by the host after allocation and before EVERY compute. The flag makes the
   * graph allocator place it before any node runs; after its last use in a compute its memory may be reused,
   * so persistent data (weights, caches) belongs in a Context buffer instead.
   */
  input(type: number, shape: readonly number[], name?: string): Tensor {
    const t = this.tensor(type, shape, name);
    ggml().ggml_set_input(t.ptr);
    return t;
  }

  f32(shape: readonly number[], name?: string): Tensor {
    return this.tensor(GgmlType.F32, shape, name);
  }
  i32(shape: readonly number[], name?: string): Tensor {
    return this.tensor(GgmlType.I32, shape, name);
  }

  /** Every tensor created in this context so far. */
  tensors(): Tensor[] {
    const g = ggml();
    const out: Tensor[] = [];
    for (let p = g.ggml_get_first_tensor(this.ptr); p; p = g.ggml_get_next_tensor(this.ptr, p))
      out.push(new Tensor(p));
    return out;
  }

  /**
   * Allocates memory for every tensor of this context that has none yet, in one buffer of the given buffer
   * type (default: the backend's). Returns the buffer (freed with the context).
   */
  allocate(bufferType?: Ptr, usage: "weights" | "any" = "any"): Ptr {
    this.assertAlive();
    const g = ggml();
    const buft = bufferType ?? getBackend().bufferType;
    const buf = g.ggml_backend_alloc_ctx_tensors_from_buft(this.ptr, buft);
    if (!buf)
      throw new EngineError(
        `could not allocate tensors in ${g.ggml_backend_buft_name(buft)} (out of memory?)`,
      );
    if (usage === "weights") g.ggml_backend_buffer_set_usage(buf, 1);
    if (isExtraBufferType(buft)) registerPrivateBuffer(buf, g.ggml_backend_buft_name(buft));
    this.buffers.push(buf);
    return buf;
  }

  /** Bytes held by this context's buffers. */
  get allocatedBytes(): number {
    return this.buffers.reduce((s, b) => s + ggml().ggml_backend_buffer_get_size(b), 0);
  }

  free(): void {
    if (this.freed) return;
    const g = ggml();
    for (const b of this.buffers) {
      unregisterPrivateBuffer(b);
      g.ggml_backend_buffer_free(b);
    }
    g.ggml_free(this.ptr);
    this.freed = true;
  }
}

/** Rejects shapes ggml would assert on: 1–4 positive integer dimensions, rows whole blocks of the type. */
export function validateShape(type: number, shape: readonly number[]): void {
  if (!isGgmlType(type)) throw new EngineError(`unknown ggml type ${type}`);
  if (shape.length < 1 || shape.length > MAX_DIMS)
    throw new EngineError(`a tensor has 1 to ${MAX_DIMS} dimensions, got [${shape.join(", ")}]`);
  for (const n of shape)
    if (!Number.isSafeInteger(n) || n < 1)
      throw new EngineError(`bad tensor dimension ${n} in [${shape.join(", ")}]`);
  const blk = blockSize(type);
  if (shape[0] % blk !== 0)
    throw new EngineError(
      `${ggmlTypeName(type)} rows hold whole blocks of ${blk}; row length ${shape[0]} is not`,
    );
}
