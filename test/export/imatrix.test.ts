// Importance matrices: values checked against a hand computation from the GGUF weights (layer 0's
// attention input is rms_norm(embedding) ⊙ attn_norm), GGUF and legacy .dat files read back, and
// quantization with the matrix giving the same bytes as llama.cpp's quantizer fed the same data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newModelGguf } from "../../lib/models/new-model.js";
import { Model } from "../../lib/models/model.js";
import { openGguf } from "../../lib/gguf/index.js";
import { computeImatrix, loadImatrix, saveImatrix } from "../../lib/export/imatrix.js";
import { quantizeModel } from "../../lib/export/quantize.js";
import { sharedDir } from "../../lib/util/paths.js";
import { llamaQuantize } from "./llama-quantize.js";
import { HELD_OUT } from "./text.js";

const skip = !sharedDir() && "../shared is absent";
const tmp = mkdtempSync(join(tmpdir(), "tunekit-imatrix-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test(
  "imatrix: hand-checked values, GGUF/.dat round trips, quantization identical to llama.cpp's with the same matrix",
  { skip },
  async () => {
    const base = join(tmp, "base.gguf");
    await newModelGguf({
      arch: "llama",
      dim: 256,
      ffn: 512,
      layers: 2,
      heads: 4,
      vocab: 1024,
      seed: 5,
      out: base,
    });
    const model = Model.load(base);
    const chunk = 48;
    const m = computeImatrix({
      model,
      text: HELD_OUT,
      chunkTokens: chunk,
      maxChunks: 2,
      dataset: "held-out",
    });
    const tokens = [model.tokenizer.bos!, ...model.tokenizer.encode(HELD_OUT).slice(0, chunk - 1)];
    const eps = model.config.normEps;
    model.dispose();
    assert.equal(m.data.size, 14);
    assert.equal(m.chunkCount, 2);

    // hand computation of the first chunk alone for blk.0.attn_q: mean over tokens of (rms_norm(E[t]) · g)²
    const one = computeImatrix({ model: base, text: HELD_OUT, chunkTokens: chunk, maxChunks: 1 });
    const f = openGguf(base);
    const E = new Float32Array(f.tensorData("token_embd.weight").slice().buffer);
    const g = new Float32Array(f.tensorData("blk.0.attn_norm.weight").slice().buffer);
    f.close();
    const d = 256;
    const want = new Float64Array(d);
    for (const t of tokens) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += E[t * d + j] ** 2;
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let j = 0; j < d; j++) want[j] += (E[t * d + j] * inv * g[j]) ** 2 / tokens.length;
    }
    const got = one.data.get("blk.0.attn_q.weight")!;
    for (let j = 0; j < d; j++)
      assert.ok(Math.abs(got[j] - want[j]) <= 1e-4 * want[j] + 1e-9, `column ${j}: ${got[j]} vs ${want[j]}`);
    assert.deepEqual(one.data.get("blk.0.attn_k.weight"), got, "q, k and v share their input");

    // files
    const gg = join(tmp, "im.gguf");
    const dat = join(tmp, "im.dat");
    await saveImatrix(gg, m);
    await saveImatrix(dat, m);
    for (const back of [loadImatrix(gg), loadImatrix(dat)]) {
      assert.deepEqual([...back.data.keys()].sort(), [...m.data.keys()].sort());
      for (const [k, v] of m.data) {
        const w = back.data.get(k)!;
        for (let i = 0; i < v.length; i++) assert.ok(Math.abs(w[i] - v[i]) <= 1e-6 * v[i] + 1e-12, k);
      }
      assert.equal(back.chunkCount, 2);
    }
    assert.deepEqual(loadImatrix(gg).datasets, ["held-out"]);

    // Q4_K_M and Q2_K with the matrix: byte-identical to llama.cpp given the same per-column weights
    const loaded = loadImatrix(gg);
    for (const [type, ftype] of [
      ["Q4_K_M", 15],
      ["Q2_K", 10],
      ["Q4_0", 2],
    ] as const) {
      const ours = join(tmp, `${type}-im.gguf`);
      const theirs = join(tmp, `${type}-im-llama.gguf`);
      const plain = join(tmp, `${type}-plain.gguf`);
      const r = await quantizeModel({ in: base, out: ours, type, imatrix: gg });
      await quantizeModel({ in: base, out: plain, type });
      llamaQuantize(base, theirs, ftype, loaded.data);
      assert.equal(r.imatrixTensors, 14);
      const a = openGguf(ours);
      const b = openGguf(theirs);
      const c = openGguf(plain);
      try {
        let differs = 0;
        for (const t of b.tensors) {
          assert.equal(a.tensor(t.name)!.type, t.type, `${type} ${t.name}`);
          assert.ok(
            Buffer.from(a.tensorData(t.name)).equals(Buffer.from(b.tensorData(t.name))),
            `${type} ${t.name} bytes`,
          );
          if (!Buffer.from(a.tensorData(t.name)).equals(Buffer.from(c.tensorData(t.name)))) differs++;
        }
        assert.ok(differs >= 14, `${type}: the matrix changed ${differs} tensors`);
        assert.equal(a.get("quantize.imatrix.entries_count"), 14);
      } finally {
        a.close();
        b.close();
        c.close();
      }
    }
  },
);
