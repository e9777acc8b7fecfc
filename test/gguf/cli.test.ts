// `tunekit gguf info` through the real CLI entry point.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";
import { openGguf } from "../../lib/gguf/read.js";
import { shared, tinyLlama } from "./helpers.js";

const skip = !shared && "../shared is absent";
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(PACKAGE_ROOT, "lib/cli/main.ts"), ...args], {
    cwd: PACKAGE_ROOT,
    encoding: "utf8",
  });

test("gguf info --json --tensors", { skip }, () => {
  const r = cli("gguf", "info", tinyLlama!, "--json", "--tensors");
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  const f = openGguf(tinyLlama!);
  try {
    assert.equal(info.version, 3);
    assert.equal(info.dataOffset, f.dataOffset);
    assert.equal(info.tensorCount, 12);
    assert.deepEqual(info.tensorTypes, { F16: 9, F32: 3 });
    assert.deepEqual(info.metadata["llama.embedding_length"], { type: "u32", value: 8 });
    assert.equal(info.metadata["tokenizer.ggml.tokens"].type, "arr<str>");
    assert.equal(info.metadata["tokenizer.ggml.tokens"].value.length, 32000);
    assert.equal(info.metadata["tokenizer.ggml.scores"].value.length, 32000);
    assert.deepEqual(
      info.tensors.map((t: { name: string; offset: number }) => [t.name, t.offset]),
      f.tensors.map((t) => [t.name, t.offset]),
    );
    assert.deepEqual(info.tensors[0], {
      name: "token_embd.weight",
      type: "F16",
      shape: [8, 32000],
      offset: 724416,
      nbytes: 512000,
    });
  } finally {
    f.close();
  }
});

test("gguf info (human) abbreviates long arrays; a bad file exits 1 with one clear line", { skip }, () => {
  const r = cli("gguf", "info", tinyLlama!);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /GGUF v3, 1\.67 MiB, alignment 32/);
  assert.match(r.stdout, /tokenizer\.ggml\.tokens\s+arr<str>\s+\["<unk>", "<s>", .*, … 32000 items\]/);
  assert.ok(
    r.stdout.split("\n").every((line) => line.length < 400),
    "no line prints a whole array",
  );
  const bad = cli("gguf", "info", join(PACKAGE_ROOT, "package.json"));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^tunekit: .*package\.json: not a GGUF file: magic is "\{\?  ", expected "GGUF"/);
});
