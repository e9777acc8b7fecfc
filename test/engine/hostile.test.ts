// Inputs that would make ggml assert (abort the process) are refused with an EngineError first.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Context,
  Graph,
  GradientState,
  Ops,
  buildBackward,
  getBackend,
  markTrainable,
} from "../../lib/engine/index.js";
import { FrozenWeights } from "../../lib/engine/weights.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { EngineError } from "../../lib/util/errors.js";

const refused = (f: () => unknown, re: RegExp) =>
  assert.throws(
    f,
    (e: Error) => e instanceof EngineError && re.test(e.message),
    `expected EngineError ${re}`,
  );

function withContext(o: ConstructorParameters<typeof Context>[0], f: (ctx: Context, ops: Ops) => void): void {
  const ctx = new Context(o);
  try {
    f(ctx, new Ops(ctx));
  } finally {
    ctx.free();
  }
}

test("mul_mat with mismatched or wrongly typed operands", () => {
  withContext({ maxTensors: 16 }, (ctx, ops) => {
    refused(() => ops.mulMat(ctx.f32([8, 4]), ctx.f32([6, 3])), /inner dimensions differ/);
    refused(() => ops.mulMat(ctx.f32([8, 4, 3]), ctx.f32([8, 2, 2])), /batch dims/);
    refused(() => ops.mulMat(ctx.f32([8, 4]), ctx.i32([8, 2])), /must be f32/);
    refused(() => ops.mulMat(ops.transpose(ctx.f32([8, 8])), ctx.f32([8, 2])), /transposed/);
  });
});

test("tensors whose rows are not whole blocks of their type", () => {
  withContext({ maxTensors: 8 }, (ctx) => {
    refused(() => ctx.tensor(GgmlType.Q4_K, [100, 2]), /whole blocks of 256/);
    refused(() => ctx.tensor(GgmlType.Q8_0, [48]), /whole blocks of 32/);
    refused(() => ctx.tensor(GgmlType.F32, [0, 2]), /bad tensor dimension/);
    refused(() => ctx.tensor(GgmlType.F32, [1, 1, 1, 1, 1]), /1 to 4 dimensions/);
    refused(() => ctx.tensor(31, [4]), /unknown ggml type/);
  });
});

test("too many tensors, graphs too small or too big for their context", () => {
  withContext({ maxTensors: 2 }, (ctx) => {
    ctx.f32([2]);
    ctx.f32([2]);
    refused(() => ctx.f32([2]), /context full/);
  });
  withContext({ maxTensors: 64, graphSize: 8 }, (ctx, ops) => {
    let x = ctx.f32([4]);
    for (let i = 0; i < 12; i++) x = ops.scale(x, 2);
    refused(() => Graph.build(ctx, [x], { size: 8 }), /graph full/);
    refused(() => Graph.build(ctx, [x], { size: 100000 }), /no room for a graph/);
  });
  withContext({ maxTensors: 64, graphSize: 64 }, (ctx, ops) => {
    const a = ctx.f32([4]);
    Graph.build(ctx, [ops.scale(a, 2)]);
    Graph.build(ctx, [ops.scale(a, 3)]);
    refused(() => Graph.build(ctx, [ops.scale(a, 4)]), /no room for a graph/); // the pool holds two
  });
  // room for the forward pass, not for the backward one
  const pctx = new Context({ maxTensors: 4 });
  withContext({ maxTensors: 256, graphSize: 16, grads: true }, (ctx, ops) => {
    const p = pctx.f32([4], "p");
    let x = ops.sqr(p);
    for (let i = 0; i < 5; i++) x = ops.scale(ops.sqr(x), 0.5);
    const loss = ops.sum(x);
    markTrainable([p], loss);
    pctx.allocate();
    const state = new GradientState([p]);
    try {
      const graph = Graph.build(ctx, [loss], { grads: true });
      refused(() => buildBackward(graph, loss, state), /too small for backward/);
    } finally {
      state.free();
    }
  });
  pctx.free();
});

test("gradients that ggml cannot compute", () => {
  const pctx = new Context({ maxTensors: 4 });
  withContext({ maxTensors: 256, graphSize: 256, grads: true }, (ctx, ops) => {
    const p = pctx.f32([32, 4], "p");
    // through a quantized copy of a parameter: ggml has no gradient for a q8_0 tensor
    const q = ops.cast(p, GgmlType.Q8_0);
    const loss = ops.sum(ops.mulMat(q, ctx.input(GgmlType.F32, [32, 2], "x")));
    markTrainable([p], loss);
    pctx.allocate();
    const state = new GradientState([p]);
    try {
      const graph = Graph.build(ctx, [loss], { grads: true });
      refused(() => buildBackward(graph, loss, state), /takes a gradient through .* Q8_0/);
    } finally {
      state.free();
    }
  });
  refused(() => new GradientState([pctx.tensor(GgmlType.F16, [4], "h")]), /must be f32/);
  pctx.free();
});

test("frozen weights refuse bad shapes, sizes, types and buffer names", () => {
  const fw = new FrozenWeights({ maxWeights: 2 });
  try {
    const data = new Float32Array(256 * 8);
    refused(() => fw.add({ name: "w", shape: [256, 4], data }), /2048 values for shape/);
    refused(
      () => fw.add({ name: "w", shape: [256, 8], bytes: new Uint8Array(10), sourceType: GgmlType.Q4_K }),
      /10 bytes/,
    );
    refused(
      () => fw.add({ name: "w", shape: [100, 8], bytes: new Uint8Array(10), sourceType: GgmlType.Q4_K }),
      /multiple of 256/,
    );
    refused(
      () => fw.add({ name: "w", shape: [256, 8], data, transposed: GgmlType.Q4_K }),
      /transposed copies are/,
    );
    refused(
      () => fw.add({ name: "w", shape: [256, 8], data, type: GgmlType.Q4_K, extraBuffer: "NO_SUCH" }),
      /no extra buffer type "NO_SUCH"/,
    );
    refused(() => fw.add({ name: "w", shape: [256, 8], data, type: GgmlType.IQ2_XXS }), /importance matrix/);
    // a K-quant row that is not a whole block falls back the way llama.cpp's quantizer does
    const w = fw.add({
      name: "w",
      shape: [96, 8],
      data: new Float32Array(96 * 8).fill(0.25),
      type: GgmlType.Q4_K,
    });
    assert.equal(w.type, GgmlType.Q5_0);
    fw.add({ name: "v", shape: [32, 2], data: new Float32Array(64) });
    refused(() => fw.add({ name: "u", shape: [32, 2], data: new Float32Array(64) }), /at most 2 weights/);
  } finally {
    fw.free();
  }
  refused(() => fw.add({ name: "late", shape: [32, 1], data: new Float32Array(32) }), /after free/);
});

test("tensor data I/O out of bounds or before allocation", () => {
  withContext({ maxTensors: 4 }, (ctx) => {
    const t = ctx.f32([4], "t");
    refused(() => t.set(new Float32Array(4)), /no memory yet/);
    ctx.allocate();
    refused(() => t.set(new Float32Array(5)), /overruns/);
    refused(() => t.set(new Float32Array(2), 12), /overruns/);
    refused(() => t.i32(), /not i32/);
  });
  assert.ok(getBackend().threads >= 1);
  withContext({ maxTensors: 4 }, (ctx) => refused(() => ctx.reserveGraph(0, false), /positive integer/));
});
