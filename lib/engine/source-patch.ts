// tunekit's own kernels in the source build of ggml's CPU backend (tunekit engine build-cpu). Today one: an
// AVX-512 f32 GEMM (kernels/tk-sgemm.c) that llamafile_sgemm — the first kernel ggml's MUL_MAT tries for
// contiguous operands — calls for f32 × f32 with at least 8 columns; everything else keeps ggml's kernels.
// The patch is applied to the fresh clone of the bundled source, by anchors that must each match once: a
// changed upstream file fails the build with a clear error instead of building something unintended.
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError } from "../util/errors.js";

/** The kernel source: lib/engine/kernels in the package, from lib/engine (tsx) and dist/engine alike. */
export const SGEMM_KERNEL = fileURLToPath(new URL("../../lib/engine/kernels/tk-sgemm.c", import.meta.url));

/** Identifies the kernels a build contains: a build made from other kernel sources is rebuilt. */
export function kernelsHash(): string {
  return createHash("sha256").update(readFileSync(SGEMM_KERNEL)).digest("hex").slice(0, 12);
}

const SGEMM_CPP = join("ggml", "src", "ggml-cpu", "llamafile", "sgemm.cpp");
const INCLUDE_ANCHOR = '#include "sgemm.h"\n';
const CALL_ANCHOR = "    if (Ctype != GGML_TYPE_F32)\n        return false;\n";

function replaceOnce(text: string, anchor: string, replacement: string, file: string): string {
  const at = text.indexOf(anchor);
  if (at < 0 || text.indexOf(anchor, at + 1) >= 0)
    throw new EngineError(
      `cannot add tunekit's kernels: ${file} does not contain ${JSON.stringify(anchor)} exactly once (the bundled source changed; update lib/engine/source-patch.ts)`,
    );
  return text.slice(0, at) + replacement + text.slice(at + anchor.length);
}

/** Adds tunekit's kernels to a clone of the bundled llama.cpp source at `src`. */
export function patchSources(src: string): void {
  const file = join(src, SGEMM_CPP);
  let text = readFileSync(file, "utf8");
  if (text.includes("tk_sgemm_f32")) throw new EngineError(`${file} already holds tunekit's kernels`);
  text = replaceOnce(
    text,
    INCLUDE_ANCHOR,
    `${INCLUDE_ANCHOR}#if defined(__AVX512F__)\n#include "tk-sgemm.c"\n#endif\n`,
    file,
  );
  text = replaceOnce(
    text,
    CALL_ANCHOR,
    CALL_ANCHOR +
      [
        "#if defined(__AVX512F__)",
        "    if (Atype == GGML_TYPE_F32 && Btype == GGML_TYPE_F32 && n >= 8) {",
        "        tk_sgemm_f32(m, n, k, (const float *)A, lda, (const float *)B, ldb, (float *)C, ldc,",
        "                     params->ith, params->nth);",
        "        return true;",
        "    }",
        "#endif",
        "",
      ].join("\n"),
    file,
  );
  writeFileSync(file, text);
  copyFileSync(SGEMM_KERNEL, join(src, "ggml", "src", "ggml-cpu", "llamafile", "tk-sgemm.c"));
}
