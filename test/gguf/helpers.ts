// Shared helpers of the GGUF tests: reference readers (node-llama-cpp, @huggingface/gguf) in a form that
// can be compared with tunekit's reader.
import { join } from "node:path";
import { GgufValueType, toPlain } from "../../lib/gguf/values.js";
import type { GgufArray, GgufMetadataValue, GgufPlainValue } from "../../lib/gguf/values.js";
import { sharedDir } from "../../lib/util/paths.js";

export const shared = sharedDir();
export const tinyLlama = shared && join(shared, "models/tiny-random-llama/llama-2-tiny-random.gguf");

/** A value with typed arrays turned into plain arrays (deepEqual then compares items, not classes). */
export type Comparable = number | bigint | boolean | string | Comparable[];
export function comparable(v: GgufPlainValue): Comparable {
  if (typeof v !== "object") return v;
  return Array.from(v as ArrayLike<GgufPlainValue>, comparable);
}

/** node-llama-cpp nests metadata by dotted key; this restores the flat key → value map. */
export function flattenMetadata(obj: Record<string, unknown>, prefix = "", out = new Map<string, unknown>()) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      flattenMetadata(v as Record<string, unknown>, key, out);
    else out.set(key, v);
  }
  return out;
}

/** Everything node-llama-cpp's readGgufFileInfo reports that tunekit also reports. */
export async function referenceInfo(path: string) {
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(path, { logWarnings: false });
  return {
    version: info.version,
    metadata: flattenMetadata(info.metadata as unknown as Record<string, unknown>),
    tensors: (info.tensorInfo ?? []).map((t) => ({
      name: t.name,
      type: t.ggmlType as number,
      shape: t.dimensions.map(Number),
      offset: Number(t.fileOffset),
    })),
    dataOffset: info.infoEndOffset,
  };
}

/** Value types as @huggingface/gguf reports them: key → [type, subType of arrays]. */
export async function hfTypes(path: string) {
  const { gguf } = await import("@huggingface/gguf");
  const r = await gguf(path, { allowLocalFile: true, typedMetadata: true });
  const out = new Map<string, [number, number | undefined]>();
  for (const [k, v] of Object.entries(r.typedMetadata)) {
    if (k === "version" || k === "tensor_count" || k === "kv_count") continue; // header fields, not metadata
    const tv = v as { type: number; subType?: number };
    out.set(k, [tv.type, tv.subType]);
  }
  return { types: out, tensorDataOffset: Number(r.tensorDataOffset) };
}

/** [type, array element type] of a tunekit value, in @huggingface/gguf's form. */
export function typePair(v: GgufMetadataValue): [number, number | undefined] {
  return [v.type, v.type === GgufValueType.ARRAY ? v.value.elementType : undefined];
}

export function plainOf(v: GgufMetadataValue): Comparable {
  return comparable(toPlain(v));
}
export type { GgufArray };
