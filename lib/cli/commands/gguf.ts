// `tunekit gguf info FILE [--tensors] [--json]`: a GGUF file's header, metadata and tensor table.
import type { Command } from "commander";
import { ggmlTypeName } from "../../gguf/ggml-types.js";
import { openGguf } from "../../gguf/read.js";
import type { GgufTensorInfo } from "../../gguf/read.js";
import { GgufValueType, ggufTypeName, toPlain } from "../../gguf/values.js";
import type { GgufArray, GgufMetadataValue, GgufPlainValue } from "../../gguf/values.js";
import { action, emit } from "../output.js";
import type { CommonOptions } from "../output.js";

interface InfoOptions extends CommonOptions {
  /** Also list every tensor. */
  tensors?: boolean;
}

/** The JSON document of `gguf info`. */
export interface GgufInfo {
  file: string;
  version: number;
  fileSize: number;
  alignment: number;
  dataOffset: number;
  tensorCount: number;
  /** Total bytes of tensor data. */
  tensorBytes: number;
  /** Tensor count per ggml type name. */
  tensorTypes: Record<string, number>;
  /** key → { type ("u32", "arr<str>", …), value (plain JS) }. */
  metadata: Record<string, { type: string; value: GgufPlainValue }>;
  tensors?: Array<{ name: string; type: string; shape: number[]; offset: number; nbytes: number }>;
}

export function register(program: Command): void {
  const cmd = program.command("gguf").description("Inspect GGUF files");
  cmd
    .command("info")
    .description("Print a GGUF file's metadata (and with --tensors its tensor table)")
    .argument("<file>", "GGUF file")
    .option("--tensors", "list every tensor (name, type, shape, offset, bytes)")
    .option("--json", "one JSON document on stdout")
    .action(
      action((file: string, opts: InfoOptions) => emit(ggufInfo(file, !!opts.tensors), opts, renderInfo)),
    );
}

/** The information `gguf info` prints, read from `file`. */
export function ggufInfo(file: string, withTensors: boolean): GgufInfo {
  const f = openGguf(file);
  try {
    const tensorTypes: Record<string, number> = {};
    for (const t of f.tensors)
      tensorTypes[ggmlTypeName(t.type)] = (tensorTypes[ggmlTypeName(t.type)] ?? 0) + 1;
    const metadata: GgufInfo["metadata"] = {};
    for (const [key, v] of f.metadata) metadata[key] = { type: typeLabel(v), value: toPlain(v) };
    return {
      file,
      version: f.version,
      fileSize: f.fileSize,
      alignment: f.alignment,
      dataOffset: f.dataOffset,
      tensorCount: f.tensors.length,
      tensorBytes: f.tensors.reduce((s, t) => s + t.nbytes, 0),
      tensorTypes,
      metadata,
      tensors: withTensors ? f.tensors.map(tensorRow) : undefined,
    };
  } finally {
    f.close();
  }
}

function tensorRow(t: GgufTensorInfo) {
  return { name: t.name, type: ggmlTypeName(t.type), shape: t.shape, offset: t.offset, nbytes: t.nbytes };
}

function typeLabel(v: GgufMetadataValue): string {
  return v.type === GgufValueType.ARRAY ? arrayLabel(v.value) : ggufTypeName(v.type);
}

function arrayLabel(a: GgufArray): string {
  const inner =
    a.elementType === GgufValueType.ARRAY && a.items.length
      ? arrayLabel(a.items[0])
      : ggufTypeName(a.elementType);
  return `arr<${inner}>`;
}

/** How many array items the human rendering shows. */
const SHOWN_ITEMS = 8;
const MAX_STRING = 200;

function show(v: GgufPlainValue): string {
  if (typeof v === "string") return JSON.stringify(v.length > MAX_STRING ? v.slice(0, MAX_STRING) + "…" : v);
  if (typeof v !== "object") return String(v);
  const items = Array.from(v as ArrayLike<GgufPlainValue>);
  const head = items.slice(0, SHOWN_ITEMS).map(show).join(", ");
  return items.length > SHOWN_ITEMS ? `[${head}, … ${items.length} items]` : `[${head}]`;
}

function renderInfo(r: GgufInfo): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  const types = Object.entries(r.tensorTypes)
    .map(([t, n]) => `${t}×${n}`)
    .join(", ");
  const lines = [
    `${r.file}: GGUF v${r.version}, ${mib(r.fileSize)}, alignment ${r.alignment}, data at byte ${r.dataOffset}`,
    `${r.tensorCount} tensors, ${mib(r.tensorBytes)} (${types || "none"})`,
    "",
    `metadata (${Object.keys(r.metadata).length} keys):`,
  ];
  const keyWidth = Math.max(0, ...Object.keys(r.metadata).map((k) => k.length));
  for (const [key, { type, value }] of Object.entries(r.metadata)) {
    lines.push(`  ${key.padEnd(keyWidth)}  ${type.padEnd(9)} ${show(value)}`);
  }
  if (r.tensors) {
    lines.push("", "tensors:");
    const nameWidth = Math.max(4, ...r.tensors.map((t) => t.name.length));
    lines.push(
      `  ${"name".padEnd(nameWidth)}  ${"type".padEnd(7)} ${"shape".padEnd(22)} ${"offset".padStart(12)} ${"bytes".padStart(12)}`,
    );
    for (const t of r.tensors) {
      const shape = `[${t.shape.join(", ")}]`;
      lines.push(
        `  ${t.name.padEnd(nameWidth)}  ${t.type.padEnd(7)} ${shape.padEnd(22)} ${String(t.offset).padStart(12)} ${String(t.nbytes).padStart(12)}`,
      );
    }
  }
  return lines.join("\n");
}
