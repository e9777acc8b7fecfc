// Gradients that come back through PERMUTE/TRANSPOSE are views; ggml builds some backward ops on them that need
// a contiguous gradient and aborts (each refused case below aborted the process with a GGML_ASSERT before the
// check: ggml_is_padded_1d in ggml_scale_impl, ggml_is_contiguous(grad) in CONT's backward, the CPU
// SOFT_MAX_BACK and binary-op kernels). buildBackward refuses those graphs, and the forms that keep the
// gradient contiguous (the op after the cont, or behind a reshape) are accepted and differentiate correctly.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Ops, Tensor } from "../../lib/engine/index.js";
import { EngineError } from "../../lib/util/errors.js";
import { gradCheck } from "./gradcheck.js";

type Build = (o: Ops, t: Tensor[]) => Tensor;
const P: [number, number, number, number] = [0, 2, 1, 3];

const refused: Array<[string, number[][], Build, RegExp]> = [
  [
    "SCALE before a permute",
    [[4, 3, 2]],
    (o, [a]) => o.cont(o.permute(o.scale(a, 0.5), P)),
    /\(SCALE\) receives its gradient as a view .*builds SCALE/,
  ],
  [
    "CONT before a permute",
    [[4, 3, 2]],
    (o, [a]) => o.cont(o.permute(o.cont(o.mul(a, a)), P)),
    /\(CONT\) receives its gradient as a view/,
  ],
  [
    "SOFT_MAX before a transpose",
    [[5, 3]],
    (o, [a]) => o.cont(o.transpose(o.softMax(a, null))),
    /\(SOFT_MAX\) .*SOFT_MAX_BACK/,
  ],
  [
    "MUL before a transpose (rows of the gradient not adjacent)",
    [
      [5, 3],
      [5, 3],
    ],
    (o, [a, b]) => o.cont(o.transpose(o.mul(a, b))),
    /\(MUL\) receives its gradient as a view laid out as ne \[5, 3, 1, 1\] nb \[12, 4, 60, 60\]/,
  ],
];

for (const [name, shapes, build, message] of refused)
  test(`backward layout: ${name} is refused before ggml would abort`, () => {
    assert.throws(
      () => gradCheck({ shapes, build }),
      (e: Error) => e instanceof EngineError && message.test(e.message),
    );
  });

const accepted: Array<[string, Build]> = [
  [
    "SCALE after the cont that follows the permute",
    (o, [a]) => o.scale(o.cont(o.permute(o.mul(a, a), P)), 0.5),
  ],
  [
    "SCALE behind a reshape (its backward makes the gradient contiguous)",
    (o, [a]) => o.cont(o.permute(o.reshape(o.scale(o.reshape(a, [24]), 0.5), [4, 3, 2]), P)),
  ],
  [
    "MUL before a permute that keeps rows (a row-strided gradient)",
    (o, [a]) => o.cont(o.permute(o.mul(a, a), P)),
  ],
];

for (const [name, build] of accepted)
  test(`backward layout: ${name} is accepted and matches finite differences`, () => {
    const { relErr } = gradCheck({ shapes: [[4, 3, 2]], build });
    assert.ok(relErr <= 1e-3, `relative error ${relErr}`);
  });
