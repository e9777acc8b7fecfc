// Where a graph's time goes: computes an allocated graph one node at a time (a one-node slice of the same
// cgraph, so buffers and the work area are the real ones) and sums the time per op and per op+shape.
// Slower than one whole compute (a thread hand-off per node), so use it to compare ops, not for totals.
import { getBackend, type Backend } from "./backend.js";
import { ggml, peek, poke, type Ptr } from "./ffi.js";
import { CGRAPH_LAYOUT, type Graph } from "./graph.js";
import { EngineError } from "../util/errors.js";

export interface OpTime {
  /** ggml op name (MUL_MAT, OUT_PROD, …); for MUL_MAT/OUT_PROD/CPY also the operand types. */
  op: string;
  count: number;
  ms: number;
}

export interface NodeTime {
  index: number;
  name: string;
  op: string;
  /** ne of the result and of the first two sources, e.g. "576x1024 = 576x576(f16) · 576x1024". */
  shape: string;
  ms: number;
}

export interface GraphProfile {
  /** Sum of the per-node times. */
  totalMs: number;
  byOp: OpTime[];
  /** The slowest nodes, slowest first. */
  top: NodeTime[];
}

function describe(g: ReturnType<typeof ggml>, t: Ptr): { op: string; shape: string; name: string } {
  // offsets from TENSOR_LAYOUT (tensor.ts), read directly to keep the per-node cost low
  const ne = (p: Ptr) =>
    [0, 1, 2, 3]
      .map((i) => Number(peek<bigint | number>(p, 16 + 8 * i, "int64_t")))
      .filter((v, i) => i < 2 || v > 1)
      .join("x");
  const type = (p: Ptr) => g.ggml_type_name(peek<number>(p, 0, "int")) ?? "?";
  const opCode = peek<number>(t, 80, "int");
  const src = [0, 1].map((j) => peek<Ptr | null>(t, 152 + 8 * j, "void*"));
  let op = g.ggml_op_name(opCode) ?? String(opCode);
  if ((op === "MUL_MAT" || op === "OUT_PROD" || op === "CPY") && src[0] && src[1])
    op += `(${type(src[0])},${type(src[1])})`;
  const shape = `${ne(t)} = ${src
    .filter((s): s is Ptr => !!s)
    .map((s) => `${ne(s)}(${type(s)})`)
    .join(" · ")}`;
  return { op, shape, name: peek<string>(t, 256, "char[64]") };
}

/** Times every node of an allocated graph (its inputs already set). `top` bounds the node list. */
export function profileGraph(graph: Graph, o: { backend?: Backend; top?: number } = {}): GraphProfile {
  const backend = o.backend ?? getBackend();
  const g = ggml();
  graph.allocate(backend);
  const p = graph.ptr;
  const n = graph.nNodes;
  const nodes = peek<Ptr>(p, CGRAPH_LAYOUT.nodes, "void*");
  if (!nodes) throw new EngineError("graph has no node array");
  const times: NodeTime[] = [];
  const byOp = new Map<string, OpTime>();
  try {
    poke(p, CGRAPH_LAYOUT.n_nodes, "int", 1);
    for (let i = 0; i < n; i++) {
      const node = peek<Ptr>(nodes, 8 * i, "void*");
      poke(p, CGRAPH_LAYOUT.nodes, "void*", nodes + BigInt(8 * i));
      const t0 = performance.now();
      const status = g.ggml_backend_graph_compute(backend.handle, p);
      const ms = performance.now() - t0;
      if (status !== 0) throw new EngineError(`node ${i} failed to compute (status ${status})`);
      const d = describe(g, node);
      times.push({ index: i, name: d.name, op: d.op, shape: d.shape, ms });
      const e = byOp.get(d.op) ?? { op: d.op, count: 0, ms: 0 };
      e.count++;
      e.ms += ms;
      byOp.set(d.op, e);
    }
  } finally {
    poke(p, CGRAPH_LAYOUT.nodes, "void*", nodes);
    poke(p, CGRAPH_LAYOUT.n_nodes, "int", n);
  }
  return {
    totalMs: times.reduce((s, t) => s + t.ms, 0),
    byOp: [...byOp.values()].sort((a, b) => b.ms - a.ms),
    top: times.sort((a, b) => b.ms - a.ms).slice(0, o.top ?? 25),
  };
}
