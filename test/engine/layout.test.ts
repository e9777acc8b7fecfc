// The struct offsets and enum values tunekit hard-codes, checked against the C headers of the exact ggml
// source of the loaded binaries (node-llama-cpp's gitRelease.bundle) compiled with the system C compiler,
// and against the loaded library itself (ggml_op_name, ggml_type_name, ggml_blck_size, ggml_type_size).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import koffi from "koffi";
import { TENSOR_LAYOUT, TensorFlag, MAX_SRC, MAX_NAME } from "../../lib/engine/tensor.js";
import { TYPE_TRAITS_LAYOUT } from "../../lib/engine/quant.js";
import { CGRAPH_LAYOUT } from "../../lib/engine/graph.js";
import { GgmlOp, GGML_OP_COUNT } from "../../lib/engine/op-codes.js";
import { GgmlType, GGML_TYPE_COUNT, blockSize, typeSize } from "../../lib/gguf/ggml-types.js";
import { ggml, InitParams } from "../../lib/engine/ffi.js";

const compiler = ["cc", "gcc", "clang"].find((c) => spawnSync(c, ["--version"]).status === 0);
const hasGit = spawnSync("git", ["--version"]).status === 0;

/** node-llama-cpp's bundle of the llama.cpp source its binaries were built from. */
function bundlePath(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve("node-llama-cpp"));
  while (!existsSync(join(dir, "llama", "gitRelease.bundle"))) {
    if (dirname(dir) === dir) throw new Error("node-llama-cpp/llama/gitRelease.bundle not found");
    dir = dirname(dir);
  }
  return join(dir, "llama", "gitRelease.bundle");
}

/** The ggml headers of the bundle, cloned once into os.tmpdir() (keyed by the bundle's size and time). */
function ggmlSource(): string {
  const bundle = bundlePath();
  const st = statSync(bundle);
  const dest = join(os.tmpdir(), `tunekit-ggml-src-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (existsSync(join(dest, "ggml", "src", "ggml-impl.h"))) return dest;
  const tmp = mkdtempSync(join(os.tmpdir(), "tunekit-ggml-clone-"));
  execFileSync("git", ["clone", "--depth", "1", "-q", "--no-checkout", bundle, tmp], { stdio: "ignore" });
  execFileSync("git", ["-C", tmp, "checkout", "-q", "HEAD", "--", "ggml/include", "ggml/src/ggml-impl.h"]);
  try {
    renameSync(tmp, dest); // atomic: a concurrent run either wins or finds the finished copy
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dest;
}

/** Compiles and runs a C program printing "key value" lines; returns them as a map. */
function cFacts(src: string, lines: string[]): Map<string, number> {
  const dir = mkdtempSync(join(os.tmpdir(), "tunekit-layout-"));
  try {
    const c = join(dir, "facts.c");
    writeFileSync(
      c,
      [
        "#include <stdio.h>",
        "#include <stddef.h>",
        '#include "ggml.h"',
        '#include "ggml-backend.h"',
        '#include "ggml-impl.h"',
        '#define P(k, v) printf("%s %lld\\n", k, (long long)(v));',
        "int main(void) {",
        ...lines,
        "return 0; }",
      ].join("\n"),
    );
    const exe = join(dir, "facts");
    execFileSync(compiler!, [
      "-std=gnu11",
      "-O1",
      "-w",
      "-I",
      join(src, "ggml/include"),
      "-I",
      join(src, "ggml/src"),
      c,
      "-o",
      exe,
    ]);
    const out = execFileSync(exe, { encoding: "utf8" });
    return new Map(
      out
        .trim()
        .split("\n")
        .map((l) => {
          const [k, v] = l.split(" ");
          return [k, Number(v)] as [string, number];
        }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const tensorFields = Object.keys(TENSOR_LAYOUT).filter((k) => k !== "size");
const traitFields = Object.keys(TYPE_TRAITS_LAYOUT).filter((k) => k !== "size");

test(
  "struct layouts and enums match the bundled ggml headers",
  { skip: (!compiler && "no C compiler") || (!hasGit && "no git to unpack the bundled source") },
  () => {
    mkdirSync(os.tmpdir(), { recursive: true });
    const src = ggmlSource();
    const facts = cFacts(src, [
      ...tensorFields.map((f) => `P("tensor.${f}", offsetof(struct ggml_tensor, ${f}))`),
      'P("tensor.size", sizeof(struct ggml_tensor))',
      ...traitFields.map((f) => `P("traits.${f}", offsetof(struct ggml_type_traits, ${f}))`),
      'P("traits.size", sizeof(struct ggml_type_traits))',
      ...Object.keys(CGRAPH_LAYOUT).map((f) => `P("cgraph.${f}", offsetof(struct ggml_cgraph, ${f}))`),
      'P("init.mem_size", offsetof(struct ggml_init_params, mem_size))',
      'P("init.mem_buffer", offsetof(struct ggml_init_params, mem_buffer))',
      'P("init.no_alloc", offsetof(struct ggml_init_params, no_alloc))',
      'P("init.size", sizeof(struct ggml_init_params))',
      'P("feature.size", sizeof(struct ggml_backend_feature))',
      'P("max.src", GGML_MAX_SRC)',
      'P("max.name", GGML_MAX_NAME)',
      'P("max.dims", GGML_MAX_DIMS)',
      'P("op.COUNT", GGML_OP_COUNT)',
      'P("type.COUNT", GGML_TYPE_COUNT)',
      ...Object.keys(GgmlOp).map((k) => `P("op.${k}", GGML_OP_${k})`),
      ...Object.keys(GgmlType).map((k) => `P("type.${k}", GGML_TYPE_${k})`),
      ...Object.keys(TensorFlag).map((k) => `P("flag.${k}", GGML_TENSOR_FLAG_${k})`),
    ]);
    for (const f of tensorFields)
      assert.equal(
        TENSOR_LAYOUT[f as keyof typeof TENSOR_LAYOUT],
        facts.get(`tensor.${f}`),
        `ggml_tensor.${f}`,
      );
    assert.equal(TENSOR_LAYOUT.size, facts.get("tensor.size"), "sizeof(struct ggml_tensor)");
    for (const f of traitFields)
      assert.equal(
        TYPE_TRAITS_LAYOUT[f as keyof typeof TYPE_TRAITS_LAYOUT],
        facts.get(`traits.${f}`),
        `ggml_type_traits.${f}`,
      );
    assert.equal(TYPE_TRAITS_LAYOUT.size, facts.get("traits.size"), "sizeof(struct ggml_type_traits)");
    for (const [f, off] of Object.entries(CGRAPH_LAYOUT))
      assert.equal(off, facts.get(`cgraph.${f}`), `ggml_cgraph.${f}`);
    // koffi lays out the init-params struct it passes by value; it must agree with C.
    assert.equal(koffi.offsetof(InitParams, "mem_size"), facts.get("init.mem_size"));
    assert.equal(koffi.offsetof(InitParams, "mem_buffer"), facts.get("init.mem_buffer"));
    assert.equal(koffi.offsetof(InitParams, "no_alloc"), facts.get("init.no_alloc"));
    assert.equal(koffi.sizeof(InitParams), facts.get("init.size"));
    assert.equal(
      facts.get("feature.size"),
      16,
      "backend.ts reads ggml_backend_feature entries 16 bytes apart",
    );
    assert.equal(MAX_SRC, facts.get("max.src"));
    assert.equal(MAX_NAME, facts.get("max.name"));
    assert.equal(facts.get("max.dims"), 4);
    assert.equal(GGML_OP_COUNT, facts.get("op.COUNT"));
    assert.equal(GGML_TYPE_COUNT, facts.get("type.COUNT"));
    for (const [k, v] of Object.entries(GgmlOp)) assert.equal(v, facts.get(`op.${k}`), `GGML_OP_${k}`);
    for (const [k, v] of Object.entries(GgmlType)) assert.equal(v, facts.get(`type.${k}`), `GGML_TYPE_${k}`);
    for (const [k, v] of Object.entries(TensorFlag))
      assert.equal(v, facts.get(`flag.${k}`), `GGML_TENSOR_FLAG_${k}`);
  },
);

test("op codes match ggml_op_name of the loaded library", () => {
  const g = ggml();
  const ids = Object.values(GgmlOp);
  assert.deepEqual(
    ids,
    Array.from({ length: GGML_OP_COUNT }, (_, i) => i),
    "op-codes.ts lists every op once, in order",
  );
  for (const [name, id] of Object.entries(GgmlOp)) assert.equal(g.ggml_op_name(id), name, `op ${id}`);
});

test("the GGUF type table matches ggml_type_name / ggml_blck_size / ggml_type_size", () => {
  const g = ggml();
  for (const [name, id] of Object.entries(GgmlType)) {
    assert.equal(g.ggml_type_name(id)?.toUpperCase(), name, `type ${id}`);
    assert.equal(g.ggml_blck_size(id), blockSize(id), `${name} block size`);
    assert.equal(g.ggml_type_size(id), typeSize(id), `${name} type size`);
  }
  // The ids missing from the table are the removed types: ggml reports them with block size 0.
  const known = new Set<number>(Object.values(GgmlType));
  for (let id = 0; id < GGML_TYPE_COUNT; id++)
    if (!known.has(id)) assert.equal(g.ggml_blck_size(id), 0, `type ${id} should be a removed type`);
});
