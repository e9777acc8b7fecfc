// Damaged or unsupported model files end in an InputError that names the problem (never a crash).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Model } from "../../lib/models/model.js";
import { newModelGguf } from "../../lib/models/new-model.js";
import {
  gguf,
  openGguf,
  writeGguf,
  type GgufMetadataValue,
  type GgufTensorToWrite,
} from "../../lib/gguf/index.js";
import { InputError } from "../../lib/util/errors.js";
import { sharedDir } from "../../lib/util/paths.js";

const shared = sharedDir();
const skip = !shared && "../shared is absent";
const dir = mkdtempSync(join(tmpdir(), "tunekit-damaged-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let goodPath: string | undefined;
async function good(): Promise<string> {
  goodPath ??= (await newModelGguf({ arch: "llama", seed: 3, out: join(dir, "good.gguf"), vocab: 512 })).out;
  return goodPath;
}

/** Copies `src` to `dst` through the GGUF reader and writer, letting `edit` change metadata and tensors. */
async function rewrite(
  src: string,
  dst: string,
  edit: (meta: Map<string, GgufMetadataValue>, tensors: GgufTensorToWrite[]) => void,
): Promise<string> {
  const f = openGguf(src);
  try {
    const meta = new Map(f.metadata);
    const tensors: GgufTensorToWrite[] = f.tensors.map((t) => ({
      name: t.name,
      type: t.type,
      shape: [...t.shape],
      data: f.tensorData(t.name).slice(),
    }));
    edit(meta, tensors);
    await writeGguf(dst, { metadata: meta, tensors });
  } finally {
    f.close();
  }
  return dst;
}

function assertLoadFails(path: string, pattern: RegExp): void {
  assert.throws(
    () => Model.load(path).dispose(),
    (e: unknown) => {
      assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

test("the intact model loads (control)", { skip }, async () => {
  const m = Model.load(await good());
  assert.equal(m.config.nVocab, 512);
  m.dispose();
});

test("a truncated file is refused", { skip }, async () => {
  const bytes = readFileSync(await good());
  for (const keep of [10, 1000, Math.floor(bytes.length / 2), bytes.length - 7]) {
    const p = join(dir, `truncated-${keep}.gguf`);
    writeFileSync(p, bytes.subarray(0, keep));
    assertLoadFails(p, /truncated|end of|beyond|past|short|exceeds|extends/i);
  }
});

test("wrong magic is refused", { skip }, async () => {
  const bytes = Buffer.from(readFileSync(await good()));
  bytes.write("GGML", 0, "latin1");
  const p = join(dir, "magic.gguf");
  writeFileSync(p, bytes);
  assertLoadFails(p, /magic|not a GGUF/i);
});

test("a tensor with a wrong shape is refused, naming the tensor", { skip }, async () => {
  const p = await rewrite(await good(), join(dir, "shape.gguf"), (_meta, tensors) => {
    const t = tensors.find((x) => x.name === "blk.1.attn_k.weight")!;
    const data = t.data as Uint8Array;
    t.shape = [t.shape[0], t.shape[1] / 2];
    t.data = data.subarray(0, data.length / 2);
  });
  assertLoadFails(p, /blk\.1\.attn_k\.weight.*shape/);
});

test("a missing tensor is refused, naming the tensor", { skip }, async () => {
  const p = await rewrite(await good(), join(dir, "missing.gguf"), (_meta, tensors) => {
    tensors.splice(
      tensors.findIndex((x) => x.name === "blk.0.ffn_up.weight"),
      1,
    );
  });
  assertLoadFails(p, /blk\.0\.ffn_up\.weight/);
});

test("an unsupported architecture is refused, naming it", { skip }, async () => {
  const p = await rewrite(await good(), join(dir, "arch.gguf"), (meta) => {
    meta.set("general.architecture", gguf.str("mamba"));
  });
  assertLoadFails(p, /architecture "mamba" is not supported/);
});

test("newModelGguf refuses bad requests with InputError", { skip }, async () => {
  const out = join(dir, "bad.gguf");
  await assert.rejects(
    newModelGguf({ arch: "mamba", seed: 1, out }),
    (e: unknown) => e instanceof InputError && /mamba/.test(e.message),
  );
  await assert.rejects(newModelGguf({ arch: "llama", seed: 1, out, heads: 4, kvHeads: 3 }), InputError);
  await assert.rejects(
    newModelGguf({ arch: "llama", seed: 1, out, vocab: 2 ** 21 }),
    (e: unknown) => e instanceof InputError && /vocab/.test(e.message),
  );
  await assert.rejects(
    newModelGguf({ arch: "llama", seed: 1, out, vocab: 2 }),
    (e: unknown) => e instanceof InputError && /eos_token_id/.test(e.message),
  );
});
