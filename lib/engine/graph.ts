// Computation graphs: build from outputs, allocate activations once with a graph allocator, compute many
// times. A graph keeps its allocation for good (gallocr fixes tensor->data), so every distinct graph gets
// its own allocator; persistent tensors (weights, gradients, optimizer state) live in Context buffers.
import { EngineError } from "../util/errors.js";
import { getBackend, type Backend } from "./backend.js";
import type { Context } from "./context.js";
import { ggml, ggmlLog, peek, poke, type Ptr } from "./ffi.js";
import { checkPrivateLayouts, hasPrivateBuffers } from "./private-layout.js";
import { MAX_SRC, Tensor, TensorFlag } from "./tensor.js";

/** Byte offsets in struct ggml_cgraph (ggml-impl.h): size, n_nodes, n_leafs, nodes; checked by layout.test.ts. */
export const CGRAPH_LAYOUT = { size: 0, n_nodes: 4, n_leafs: 8, nodes: 16 } as const;

export class Graph {
  private allocator: Ptr | null = null;
  /** Tensors already visited by expand() (a subset of the graph's nodes and leafs). */
  private readonly members = new Set<Ptr>();

  private constructor(
    readonly ptr: Ptr,
    readonly ctx: Context,
  ) {}

  /** A graph computing `outputs`. `size` bounds its nodes; `grads` reserves room for a backward pass. */
  static build(ctx: Context, outputs: Tensor[], options: { size?: number; grads?: boolean } = {}): Graph {
    const size = options.size ?? ctx.options.graphSize ?? 2048;
    ctx.assertAlive();
    ctx.reserveGraph(size, !!options.grads);
    const g = ggml();
    const graph = new Graph(g.ggml_new_graph_custom(ctx.ptr, size, !!options.grads), ctx);
    for (const t of outputs) {
      graph.expand(t);
      g.ggml_set_output(t.ptr);
    }
    return graph;
  }

  /** Adds a tensor and its ancestors, checking the node budget first (ggml aborts when it is exceeded). */
  expand(t: Tensor): void {
    const g = ggml();
    // ggml asserts while it adds nodes, so the new nodes and leafs are counted beforehand (as ggml counts
    // them: an op-less tensor that is not a parameter is a leaf).
    const seen = new Set<Ptr>();
    let nodes = 0;
    let leafs = 0;
    for (const stack = [t.ptr]; stack.length;) {
      const p = stack.pop()!;
      if (this.members.has(p) || seen.has(p)) continue;
      seen.add(p);
      const cur = new Tensor(p);
      for (let j = 0; j < MAX_SRC; j++) {
        const s = cur.src(j);
        if (s) stack.push(s.ptr);
      }
      if (cur.op === 0 && (cur.flags & TensorFlag.PARAM) === 0) leafs++;
      else nodes++;
    }
    if (this.nNodes + nodes > this.size || this.nLeafs + leafs > this.size)
      throw new EngineError(
        `graph full: ${this.size} nodes; adding ${t} needs ${this.nNodes + nodes} nodes and ` +
          `${this.nLeafs + leafs} leafs — build it with a larger size`,
      );
    for (const p of seen) this.members.add(p);
    g.ggml_build_forward_expand(this.ptr, t.ptr);
    if (this.nNodes >= this.size)
      throw new EngineError(`graph full: ${this.size} nodes; build it with a larger size`);
  }

  get size(): number {
    return ggml().ggml_graph_size(this.ptr);
  }
  get nNodes(): number {
    return ggml().ggml_graph_n_nodes(this.ptr);
  }
  get nLeafs(): number {
    return peek<number>(this.ptr, CGRAPH_LAYOUT.n_leafs, "int");
  }
  node(i: number): Tensor {
    return new Tensor(ggml().ggml_graph_node(this.ptr, i));
  }
  nodes(): Tensor[] {
    return Array.from({ length: this.nNodes }, (_, i) => this.node(i));
  }
  /**
   * Replaces the node list with `nodes` (the graph's nodes plus new ones, each after its sources): how the
   * backward rewrites insert nodes ggml's builder did not make. ggml's own hash set of visited tensors is
   * left as it was, which only matters to a later expand() that reaches the new nodes (none does: they are
   * read only by rewritten nodes, which are already visited).
   */
  setNodes(nodes: readonly Tensor[]): void {
    if (nodes.length > this.size)
      throw new EngineError(`graph full: ${this.size} nodes, ${nodes.length} given`);
    const array = peek<Ptr>(this.ptr, CGRAPH_LAYOUT.nodes, "void*");
    nodes.forEach((t, i) => poke(array, 8 * i, "void*", t.ptr));
    poke(this.ptr, CGRAPH_LAYOUT.n_nodes, "int", nodes.length);
    for (const t of nodes) this.members.add(t.ptr);
  }

  /** The gradient of `t` in a graph with a backward pass, or null when t gets none. */
  grad(t: Tensor): Tensor | null {
    const p = ggml().ggml_graph_get_grad(this.ptr, t.ptr);
    return p ? new Tensor(p) : null;
  }
  gradAccumulator(t: Tensor): Tensor | null {
    const p = ggml().ggml_graph_get_grad_acc(this.ptr, t.ptr);
    return p ? new Tensor(p) : null;
  }

  /** Allocates memory for the graph's activations (once). */
  allocate(backend: Backend = getBackend()): void {
    if (this.allocator) return;
    if (hasPrivateBuffers()) checkPrivateLayouts(this.nodes());
    const g = ggml();
    const alloc = g.ggml_gallocr_new(backend.bufferType);
    if (!g.ggml_gallocr_alloc_graph(alloc, this.ptr)) {
      g.ggml_gallocr_free(alloc);
      throw new EngineError("could not allocate the graph's activations (out of memory?)");
    }
    this.allocator = alloc;
  }

  /** Bytes of activation memory the graph uses. */
  get activationBytes(): number {
    return this.allocator ? ggml().ggml_gallocr_get_buffer_size(this.allocator, 0) : 0;
  }

  /** Computes the graph (allocating first if needed), optionally with a thread count for this call only. */
  compute(backend: Backend = getBackend(), threads?: number): void {
    this.allocate(backend);
    const saved = backend.threads;
    if (threads !== undefined && threads !== saved) backend.setThreads(threads);
    let status: number;
    try {
      status = ggml().ggml_backend_graph_compute(backend.handle, this.ptr);
    } finally {
      if (threads !== undefined && threads !== saved) backend.setThreads(saved);
    }
    if (status !== 0)
      throw new EngineError(`ggml graph compute failed (status ${status}) ${ggmlLog.slice(-3).join(" ")}`);
  }

  /** Zeroes gradient accumulators and sets the loss gradient to 1 (after allocation). */
  resetGradients(): void {
    ggml().ggml_graph_reset(this.ptr);
  }

  /** Releases the activation memory; the graph's tensors stay in its context. */
  free(): void {
    if (this.allocator) ggml().ggml_gallocr_free(this.allocator);
    this.allocator = null;
  }
}
