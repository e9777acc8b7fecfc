// Buffers whose tensors live in a backend-private layout: the CPU "extra" buffer types (AMX, CPU_REPACK)
// repack weights when they are written, cannot give them back (get_tensor is missing or asserts) and only
// the MUL_MATs their kernels support may read them — anything else (autograd's OUT_PROD, get_rows, a copy)
// would read the repacked bytes as if they were plain ggml blocks and compute garbage (NaN gradients).
// Context.allocate registers such buffers; tensor I/O and graph allocation consult the registry.
import { EngineError } from "../util/errors.js";
import { getBackend } from "./backend.js";
import { ggml, type Ptr } from "./ffi.js";
import { GgmlOp } from "./op-codes.js";
import type { Tensor } from "./tensor.js";

const privateBuffers = new Map<Ptr, string>();

/** Records that `buffer` holds tensors in the private layout of the buffer type `typeName`. */
export function registerPrivateBuffer(buffer: Ptr, typeName: string): void {
  privateBuffers.set(buffer, typeName);
}

/** Forgets a buffer (when it is freed: its address may be reused by an ordinary buffer). */
export function unregisterPrivateBuffer(buffer: Ptr): void {
  privateBuffers.delete(buffer);
}

/** True when any private-layout buffer exists (graph checks are skipped otherwise). */
export function hasPrivateBuffers(): boolean {
  return privateBuffers.size > 0;
}

/** True when `buft` is one of the backend's extra (private-layout) buffer types. */
export function isExtraBufferType(buft: Ptr): boolean {
  return getBackend().extraBufferTypes.some((e) => e.buft === buft);
}

/** The private layout's buffer-type name of a tensor (or of the tensor it views), or null. */
export function privateLayoutOf(t: Tensor): string | null {
  if (privateBuffers.size === 0) return null;
  for (let cur: Tensor | null = t; cur; cur = cur.viewSrc) {
    const buf = cur.buffer;
    if (buf && privateBuffers.has(buf)) return privateBuffers.get(buf)!;
  }
  return null;
}

/**
 * Refuses a graph in which a node other than a device-supported MUL_MAT (weight as its first source) reads
 * a tensor stored in a private layout. Run before the graph is allocated and computed.
 */
export function checkPrivateLayouts(nodes: Tensor[]): void {
  if (privateBuffers.size === 0) return;
  const dev = getBackend().device;
  for (const node of nodes) {
    for (let j = 0; j < 10; j++) {
      const src = node.src(j);
      if (!src) continue;
      const layout = privateLayoutOf(src);
      if (!layout) continue;
      const ok = node.op === GgmlOp.MUL_MAT && j === 0 && ggml().ggml_backend_dev_supports_op(dev, node.ptr);
      if (!ok)
        throw new EngineError(
          `${node} (${ggml().ggml_op_name(node.op)}) reads ${src}, which is stored in the private layout of ` +
            `${layout}: only a MUL_MAT that ${layout} supports may read it (autograd must not — give the ` +
            `weight a transposed copy, or keep it in an ordinary buffer)`,
        );
    }
  }
}
