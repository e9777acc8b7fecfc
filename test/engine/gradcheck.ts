// Finite-difference gradient checking for engine tests: analytic gradients from ggml's autograd against
// central differences of the same f32 graph.
import {
  Context,
  Graph,
  GradientState,
  Ops,
  Tensor,
  buildBackward,
  markTrainable,
} from "../../lib/engine/index.js";

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 4294967296) * 2 - 1;
  };
}

export interface GradCheckCase {
  /** Shapes of the trainable inputs (ggml order). */
  shapes: number[][];
  /** Builds a (non-scalar) output from the inputs; the checker reduces it to a scalar with fixed weights. */
  build: (ops: Ops, inputs: Tensor[], ctx: Context) => Tensor;
  /** Optional input initialiser (default uniform in [-1, 1]). */
  init?: (i: number, n: number, r: () => number) => Float32Array;
  /** Extra non-trainable tensors to fill after allocation. */
  fill?: (ctx: Context) => void;
  eps?: number;
  seed?: number;
}

/** Returns the worst relative error ‖g_autograd − g_fd‖ / max(‖g_autograd‖, ‖g_fd‖) over inputs. */
export function gradCheck(c: GradCheckCase): {
  relErr: number;
  perInput: number[];
  /** OUT_PROD nodes the backward rewrite turned into long-row forms. */
  outProducts: number;
} {
  const r = rng(c.seed ?? 7);
  const pctx = new Context({ maxTensors: c.shapes.length + 8 });
  const params = c.shapes.map((s, i) => pctx.f32(s, `x${i}`));
  const cctx = new Context({ maxTensors: 4096, graphSize: 4096, grads: true });
  const ops = new Ops(cctx);
  try {
    const out = c.build(ops, params, cctx);
    const weights = cctx.input(0, out.ne, "w");
    const loss = ops.sum(ops.mul(out, weights));
    // flags must be set before the graph is built
    markTrainable(params, loss);
    const state = new GradientState(params);
    const graph = Graph.build(cctx, [loss], { size: 4096, grads: true });
    const { outProducts } = buildBackward(graph, loss, state);
    pctx.allocate();
    graph.allocate();
    const data = params.map((p, i) => (c.init ? c.init(i, p.nelements, r) : randomArray(p.nelements, r)));
    params.forEach((p, i) => p.set(data[i]));
    const w = randomArray(weights.nelements, r);
    // Graph inputs may be overwritten during a compute (the allocator reuses their memory after their last
    // use), so they are written again before every compute.
    const run = () => {
      weights.set(w);
      c.fill?.(cctx);
      graph.compute();
    };
    state.zero();
    run();
    const analytic = state.accumulators.map((a) => a.f32());
    const eps = c.eps ?? 1e-2;
    const perInput = params.map((p, i) => {
      const x = data[i];
      const fd = new Float32Array(x.length);
      for (let j = 0; j < x.length; j++) {
        const orig = x[j];
        x[j] = orig + eps;
        p.set(x);
        run();
        const up = loss.scalar();
        x[j] = orig - eps;
        p.set(x);
        run();
        const down = loss.scalar();
        x[j] = orig;
        fd[j] = (up - down) / (2 * eps);
      }
      p.set(x);
      let diff = 0,
        na = 0,
        nf = 0;
      for (let j = 0; j < x.length; j++) {
        diff += (analytic[i][j] - fd[j]) ** 2;
        na += analytic[i][j] ** 2;
        nf += fd[j] ** 2;
      }
      return Math.sqrt(diff) / Math.max(Math.sqrt(na), Math.sqrt(nf), 1e-12);
    });
    state.free();
    graph.free();
    return { relErr: Math.max(...perInput), perInput, outProducts };
  } finally {
    cctx.free();
    pctx.free();
  }
}

export function randomArray(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => r() * scale);
}
