// The type table against ggml itself: the prebuilt libggml-base.so (ggml_type_name / ggml_blck_size /
// ggml_type_size for every id) and the enum in the bundled ggml.h.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type * as Koffi from "koffi";
import {
  GGML_TYPE_COUNT,
  GgmlType,
  blockSize,
  ggmlTypeFromName,
  ggmlTypeName,
  isGgmlType,
  rowBytes,
  tensorBytes,
  typeSize,
} from "../../lib/gguf/ggml-types.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";
import { TunekitError } from "../../lib/util/errors.js";

const libPath = join(PACKAGE_ROOT, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so");
const header = "/work/llama-src/src/ggml/include/ggml.h";

test(
  "every type id matches ggml's own type_traits (libggml-base.so)",
  { skip: !existsSync(libPath) && "libggml-base.so is absent" },
  () => {
    const koffi = createRequire(import.meta.url)("koffi") as typeof Koffi;
    const lib = koffi.load(libPath);
    const typeName = lib.func("const char *ggml_type_name(int type)");
    const blck = lib.func("int64_t ggml_blck_size(int type)");
    const size = lib.func("size_t ggml_type_size(int type)");
    let checked = 0;
    for (let id = 0; id < GGML_TYPE_COUNT; id++) {
      const b = Number(blck(id));
      if (b === 0) {
        // removed ids have block size 0 in ggml: they must be unknown here too
        assert.equal(isGgmlType(id), false, `id ${id} (${typeName(id)}) is removed in ggml`);
        continue;
      }
      assert.ok(isGgmlType(id), `ggml defines id ${id} (${typeName(id)})`);
      assert.equal(ggmlTypeName(id).toLowerCase(), String(typeName(id)).toLowerCase(), `name of ${id}`);
      assert.equal(blockSize(id), b, `block size of ${typeName(id)}`);
      assert.equal(typeSize(id), Number(size(id)), `type size of ${typeName(id)}`);
      checked++;
    }
    assert.equal(checked, Object.keys(GgmlType).length);
  },
);

test(
  "ids match enum ggml_type in the bundled ggml.h",
  { skip: !existsSync(header) && "llama.cpp source is absent" },
  () => {
    const src = readFileSync(header, "utf8");
    const body = src.slice(src.indexOf("enum ggml_type {"), src.indexOf("GGML_TYPE_COUNT"));
    const defined = [...body.matchAll(/^\s*GGML_TYPE_(\w+)\s*=\s*(\d+),/gm)].map(
      ([, n, v]) => [n, Number(v)] as const,
    );
    assert.ok(defined.length > 30);
    assert.deepEqual(Object.entries(GgmlType), defined);
    assert.equal(Number(/GGML_TYPE_COUNT\s*=\s*(\d+)/.exec(src)![1]), GGML_TYPE_COUNT);
  },
);

test("names, row and tensor sizes (hand-computed)", () => {
  assert.equal(ggmlTypeFromName("q4_k"), 12);
  assert.equal(ggmlTypeFromName(" Q8_0 "), 8);
  assert.equal(ggmlTypeFromName("bf16"), GgmlType.BF16);
  assert.throws(() => ggmlTypeFromName("q4_2"), /unknown ggml tensor type "q4_2"/);
  assert.throws(() => ggmlTypeName(4), /unknown ggml tensor type 4/);
  assert.equal(rowBytes(GgmlType.Q4_K, 4096), 16 * 144);
  assert.equal(rowBytes(GgmlType.Q8_0, 64), 2 * 34);
  assert.equal(rowBytes(GgmlType.F32, 3), 12);
  assert.throws(
    () => rowBytes(GgmlType.Q4_K, 4000),
    (e: Error) => e instanceof TunekitError && /multiple of 256/.test(e.message),
  );
  assert.equal(tensorBytes(GgmlType.F16, [8, 32000]), 512000);
  assert.equal(tensorBytes(GgmlType.Q6_K, [256, 3, 2]), 6 * 210);
  assert.equal(tensorBytes(GgmlType.F32, []), 4);
  assert.throws(() => tensorBytes(GgmlType.F32, [2 ** 40, 2 ** 40]), /too large/);
  assert.throws(() => tensorBytes(GgmlType.F32, [4, -1]), /invalid dimension/);
});
