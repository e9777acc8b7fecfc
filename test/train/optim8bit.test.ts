// 8-bit AdamW states: decoded moments against f32 AdamW's, a hard case (gradients spanning eight decades inside
// each block) that stays bounded, the stories260K loss curve against f32 AdamW on the same seed, exact resume
// from a checkpoint holding the 8-bit states, and the memory the states take.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Context } from "../../lib/engine/context.js";
import { GradientState } from "../../lib/engine/autograd.js";
import { AdamW } from "../../lib/engine/optimizer.js";
import { ggml } from "../../lib/engine/ffi.js";
import { dequantize } from "../../lib/engine/quant.js";
import { GgmlType } from "../../lib/gguf/ggml-types.js";
import { SeededRandom } from "../../lib/data/random.js";
import { resolveTrainConfig } from "../../lib/train/config.js";
import { train, type TrainLogRow } from "../../lib/train/trainer.js";
import { Model } from "../../lib/models/model.js";
import { fullTrainable } from "../../lib/train/trainable.js";
import { defaultModelPath } from "../../lib/pipeline/default-model.js";
import { InputError } from "../../lib/util/errors.js";
import { fixture, skip } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "tunekit-optim8-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs f32 and 8-bit AdamW on the same parameters and gradients; returns both final parameter sets. */
function runBoth(
  shapes: number[][],
  gradient: (rng: SeededRandom, n: number) => Float32Array,
  steps: number,
) {
  const ctx = new Context({ maxTensors: shapes.length });
  const ps = shapes.map((s, i) => ctx.f32(s, `p${i}`));
  ctx.allocate();
  ps.forEach((p) => ggml().ggml_set_param(p.ptr));
  const rng = new SeededRandom(1);
  const init = ps.map((p) => Float32Array.from({ length: p.nelements }, () => rng.uniform(-1, 1)));
  const grads = new GradientState(ps);
  const out: { params: Float32Array[]; m: Float32Array[]; v: Float32Array[]; bytes: number }[] = [];
  try {
    for (const eightBit of [false, true]) {
      ps.forEach((p, i) => p.set(init[i]));
      const adam = new AdamW(grads, { eightBit, weightDecay: 0.01 });
      const r = new SeededRandom(5);
      for (let s = 0; s < steps; s++) {
        grads.accumulators.forEach((a) => a.set(gradient(r, a.nelements)));
        adam.update(1e-2, 0);
      }
      const st = adam.exportState();
      const decode = (b: Uint8Array, i: number, f: (t: number) => number) =>
        eightBit
          ? dequantize(GgmlType.Q8_0, b, (b.byteLength / 34) * 32)
              .subarray(0, ps[i].nelements)
              .map(f)
          : new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
      out.push({
        params: ps.map((p) => p.f32()),
        // the stored codes decoded by hand: m = sign(t)·t²/2²⁴, v = (t/2¹²)⁴
        m: st.m.map((b, i) => decode(b, i, (t) => (Math.sign(t) * t * t) / 4096 ** 2)),
        v: st.v.map((b, i) => decode(b, i, (t) => (t / 4096) ** 4)),
        bytes: adam.stateBytes,
      });
      adam.free();
    }
  } finally {
    grads.free();
    ctx.free();
  }
  return { f32: out[0], q8: out[1], init };
}

test("8-bit AdamW: decoded moments and parameters follow f32 AdamW; a v rounded to 0 cannot blow up", () => {
  // gradients whose magnitudes vary over two decades inside a block (typical of real layers)
  const typical = runBoth(
    [[64, 16], [16, 48], [100]],
    (r, n) =>
      Float32Array.from(
        { length: n },
        (_, j) => r.uniform(-1, 1) * 10 ** -((j * 7) % 3) + 0.3 * 10 ** -(j % 2),
      ),
    40,
  );
  let worstM = 0;
  let worstSqrtV = 0;
  let worstP = 0;
  let moved = 0;
  typical.f32.params.forEach((p, i) => {
    const maxM = Math.max(...typical.f32.m[i].map(Math.abs));
    const maxSqrtV = Math.max(...typical.f32.v[i].map(Math.sqrt));
    for (let j = 0; j < p.length; j++) {
      worstM = Math.max(worstM, Math.abs(typical.q8.m[i][j] - typical.f32.m[i][j]) / maxM);
      worstSqrtV = Math.max(
        worstSqrtV,
        Math.abs(Math.sqrt(typical.q8.v[i][j]) - Math.sqrt(typical.f32.v[i][j])) / maxSqrtV,
      );
      worstP = Math.max(worstP, Math.abs(typical.q8.params[i][j] - p[j]));
      moved = Math.max(moved, Math.abs(p[j] - typical.init[i][j]));
    }
  });
  console.log(
    `# 40 steps: |m8 − m| ≤ ${worstM.toExponential(2)}·max|m|, |√v8 − √v| ≤ ${worstSqrtV.toExponential(2)}·max√v, ` +
      `|p8 − p| ≤ ${worstP.toExponential(2)} (parameters moved up to ${moved.toFixed(3)}); state bytes ${typical.q8.bytes} vs ${typical.f32.bytes}`,
  );
  assert.ok(worstM < 0.03, `m ${worstM}`);
  // one requantization errs by ≤ 1/127 of the block maximum; 40 of them drift a little further
  assert.ok(worstSqrtV < 0.06, `√v ${worstSqrtV}`);
  // random-sign gradients: Adam divides noise by its own scale, so small state errors steer the walk a little
  assert.ok(worstP < 0.2 * moved, `parameters ${worstP} vs movement ${moved}`);
  // q8_0: 34 bytes per 32 values (each tensor padded to whole blocks) against 4 bytes a value
  assert.equal(typical.q8.bytes, 2 * 34 * (32 + 24 + 4));

  // eight decades inside every block: small elements are below the 8-bit resolution of their block. Without
  // the v ≥ κ·m² repair an m rounded up over a v rounded to 0 moved parameters by m/ε (> 10 here).
  const hard = runBoth(
    [[64, 16], [16, 48], [100]],
    (r, n) => Float32Array.from({ length: n }, (_, j) => r.uniform(-1, 1) * 10 ** -(j % 9)),
    50,
  );
  let dev = 0;
  let mv = 0;
  hard.f32.params.forEach((p, i) =>
    p.forEach((x, j) => {
      dev = Math.max(dev, Math.abs(hard.q8.params[i][j] - x));
      mv = Math.max(mv, Math.abs(x - hard.init[i][j]));
    }),
  );
  console.log(
    `# eight decades per block: |p8 − p| ≤ ${dev.toFixed(3)} (f32 AdamW moved up to ${mv.toFixed(3)})`,
  );
  assert.ok(dev < 2 * mv, `${dev}`);
});

const cfg = (f: Awaited<ReturnType<typeof fixture>>, out: string, extra: Record<string, unknown> = {}) =>
  resolveTrainConfig(undefined, {
    model: f.model,
    data: f.train,
    out: join(tmp, out),
    batch: 2,
    maxSeq: 32,
    loraR: 8,
    loraAlpha: 16,
    lr: 3e-3,
    warmup: 0,
    seed: 4,
    ...extra,
  });

test("stories260K, 30 steps on one seed: adamw_8bit's loss curve follows adamw's", { skip }, async () => {
  const f = await fixture();
  const curves: Record<string, number[]> = {};
  for (const optim of ["adamw", "adamw_8bit"]) {
    const rows: TrainLogRow[] = [];
    await train(cfg(f, optim, { optim, maxSteps: 30 }), { onLog: (r) => rows.push(r) });
    curves[optim] = rows.map((r) => r.loss);
  }
  const a = curves.adamw;
  const b = curves.adamw_8bit;
  const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  console.log(
    `# loss adamw ${a[0].toFixed(3)} → ${a.at(-1)!.toFixed(4)}, adamw_8bit ${b[0].toFixed(3)} → ${b.at(-1)!.toFixed(4)}; ` +
      `final difference ${(b.at(-1)! - a.at(-1)!).toFixed(4)}, largest over the curve ${worst.toFixed(4)} nats/token`,
  );
  assert.ok(b.at(-1)! < b[0] / 3, "8-bit AdamW trains");
  assert.ok(Math.abs(b.at(-1)! - a.at(-1)!) < 0.1, "final losses agree");
});

test("adamw_8bit resumes exactly from a checkpoint holding the 8-bit states", { skip }, async () => {
  const f = await fixture();
  const common = { optim: "adamw_8bit", scheduler: "constant" };
  const whole: TrainLogRow[] = [];
  await train(cfg(f, "whole8", { ...common, maxSteps: 6 }), { onLog: (x) => whole.push(x) });
  await train(cfg(f, "split8", { ...common, maxSteps: 3 }));
  const ck = join(tmp, "split8", "checkpoints", "step-3");
  assert.ok(existsSync(join(ck, "adam.q8")), readdirSync(ck).join(", "));
  const resumed: TrainLogRow[] = [];
  await train(cfg(f, "split8", { ...common, maxSteps: 6 }), { onLog: (x) => resumed.push(x) }, true);
  console.log(`# loss at step 6: uninterrupted ${whole.at(-1)!.loss}, resumed ${resumed.at(-1)!.loss}`);
  assert.equal(resumed.at(-1)!.loss, whole.at(-1)!.loss);
  await assert.rejects(
    train(cfg(f, "split8", { scheduler: "constant", maxSteps: 8 }), {}, true),
    (e: Error) => e instanceof InputError && /same optim/.test(e.message),
  );
});

test("memory of the moments: LoRA r16 on the SmolLM2-135M shape and full fine-tuning of the default model", () => {
  const stateBytes = (shapes: number[][]) => {
    const ctx = new Context({ maxTensors: shapes.length });
    const ps = shapes.map((s, i) => ctx.f32(s, `p${i}`));
    ctx.allocate();
    ps.forEach((p) => ggml().ggml_set_param(p.ptr));
    const grads = new GradientState(ps);
    const out = [false, true].map((eightBit) => {
      const adam = new AdamW(grads, { eightBit });
      const b = adam.stateBytes;
      adam.free();
      return b;
    });
    grads.free();
    ctx.free();
    return { params: ps.reduce((s, p) => s + p.nelements, 0), f32: out[0], q8: out[1] };
  };
  // SmolLM2-135M: dim 576, 30 layers, 9 heads / 3 KV heads of 64, ffn 1536; LoRA r 16 on all linear layers
  const [d, kv, ff, r] = [576, 192, 1536, 16];
  const lin = [
    [d, d],
    [d, kv],
    [d, kv],
    [d, d],
    [d, ff],
    [d, ff],
    [ff, d],
  ];
  const lora = stateBytes(
    Array.from({ length: 30 }, () =>
      lin.flatMap(([i, o]) => [
        [i, r],
        [r, o],
      ]),
    ).flat(),
  );
  const mib = (x: number) => (x / 2 ** 20).toFixed(1);
  console.log(
    `# LoRA r16 SmolLM2-135M shape: ${lora.params} trainable; AdamW moments ${mib(lora.f32)} MiB f32 → ${mib(lora.q8)} MiB 8-bit (saves ${mib(lora.f32 - lora.q8)} MiB)`,
  );
  assert.equal(lora.params, 4_884_480);
  assert.ok(lora.q8 / lora.f32 < 0.27, `${lora.q8 / lora.f32}`);

  const path = defaultModelPath();
  if (!existsSync(path)) return;
  const model = Model.load(path, { trainable: true });
  try {
    const full = stateBytes(
      fullTrainable(model)
        .params()
        .map((t) => t.shape),
    );
    console.log(
      `# full fine-tuning of the default model: ${full.params} parameters; moments ${mib(full.f32)} MiB f32 → ${mib(full.q8)} MiB 8-bit (saves ${mib(full.f32 - full.q8)} MiB)`,
    );
    assert.ok(full.q8 / full.f32 < 0.27);
  } finally {
    model.dispose();
  }
});
