// LoRA weights as plain f32 arrays, from any of the places an adapter can come from: llama.cpp's adapter
// GGUF (what tunekit's trainer writes), a LoraAdapter in memory, or a PEFT folder (adapter_config.json +
// adapter_model.safetensors, e.g. trained with Hugging Face PEFT). PEFT import applies llama.cpp's Llama
// Q/K row permutation to B's rows (the inverse of lib/lora/peft.ts), so the weights fit the GGUF base.
import { existsSync, readFileSync, statSync, openSync, readSync, closeSync } from "node:fs";
import { join } from "node:path";
import { openGguf } from "../gguf/index.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { dequantize } from "../engine/quant.js";
import { readSafetensorsIndex, permuteQk } from "../models/convert-hf.js";
import type { ModelConfig } from "../models/config.js";
import type { Model } from "../models/model.js";
import { LoraAdapter } from "../lora/adapter.js";
import { InputError } from "../util/errors.js";

/** One adapted layer: ΔW = scale · B·A with A ggml [inDim, r] (r rows of inDim) and B ggml [r, outDim]. */
export interface AdapterLayer {
  a: Float32Array;
  b: Float32Array;
  inDim: number;
  outDim: number;
  r: number;
  /** DoRA's magnitude m [outDim] (PEFT's lora_magnitude_vector): W' = m ⊙ (W + s·B·A)/‖W + s·B·A‖ per row. */
  magnitude?: Float32Array;
}

/** An adapter's weights, independent of any engine context. */
export interface AdapterWeights {
  /** Architecture the adapter was made for (general.architecture), when the source says. */
  arch?: string;
  /** s in W' = W + s·B·A (llama.cpp: adapter.lora.alpha / r). */
  scale: number;
  /** Rank and α as the source states them. */
  r: number;
  alpha: number;
  rslora: boolean;
  /** DoRA (every layer has a magnitude). */
  dora?: boolean;
  /** GGUF layer name ("blk.0.attn_q") → weights. */
  layers: Map<string, AdapterLayer>;
  /** Where the adapter came from (for messages). */
  source: string;
}

/** Reads llama.cpp's LoRA adapter GGUF (general.type = adapter, adapter.type = lora). */
export function readAdapterGguf(path: string): AdapterWeights {
  const f = openGguf(path);
  try {
    const where = { file: path };
    if (f.getString("general.type", "") !== "adapter" || f.getString("adapter.type", "") !== "lora")
      throw new InputError("not a LoRA adapter (general.type = adapter, adapter.type = lora)", where);
    const layers = new Map<string, AdapterLayer>();
    let rank = 0;
    for (const ta of f.tensors) {
      if (!ta.name.endsWith(".weight.lora_a")) continue;
      const name = ta.name.slice(0, -".weight.lora_a".length);
      const tb = f.tensor(`${name}.weight.lora_b`);
      if (!tb) throw new InputError(`${ta.name} has no matching lora_b`, where);
      const [inDim, r] = ta.shape;
      const [rb, outDim] = tb.shape;
      if (ta.shape.length !== 2 || tb.shape.length !== 2 || rb !== r)
        throw new InputError(
          `${name}: lora_a [${ta.shape}] and lora_b [${tb.shape}] do not fit (A [in, r], B [r, out])`,
          where,
        );
      const a = toF32(ta.type, f.tensorData(ta.name), inDim * r, ta.name, path);
      const b = toF32(tb.type, f.tensorData(tb.name), r * outDim, tb.name, path);
      layers.set(name, { a, b, inDim, outDim, r });
      rank = r;
    }
    if (layers.size === 0) throw new InputError("the adapter has no lora_a tensors", where);
    const alpha = f.getNumber("adapter.lora.alpha", rank);
    const rslora = f.get("tunekit.lora.rslora") === true;
    return {
      arch: f.getString("general.architecture", ""),
      scale: alpha / rank,
      r: rank,
      alpha: rslora ? f.getNumber("tunekit.lora.alpha", alpha) : alpha,
      rslora,
      layers,
      source: path,
    };
  } finally {
    f.close();
  }
}

function toF32(type: number, bytes: Uint8Array, n: number, name: string, file: string): Float32Array {
  if (type !== GgmlType.F32 && type !== GgmlType.F16 && type !== GgmlType.BF16)
    throw new InputError(`${name} must be f32, f16 or bf16`, { file });
  return dequantize(type, bytes, n);
}

/** The weights of an adapter in memory (copies). */
export function adapterWeightsOf(adapter: LoraAdapter, arch?: string): AdapterWeights {
  const layers = new Map<string, AdapterLayer>();
  for (const l of adapter.layers.values())
    layers.set(l.name, {
      a: l.a.f32(),
      b: l.b.f32(),
      inDim: l.inDim,
      outDim: l.outDim,
      r: adapter.config.r,
      magnitude: l.dora?.m.f32(),
    });
  return {
    arch,
    scale: adapter.scale,
    r: adapter.config.r,
    alpha: adapter.config.alpha,
    rslora: adapter.config.rslora,
    dora: adapter.config.dora,
    layers,
    source: "adapter in memory",
  };
}

/** HF module path → GGUF layer kind. */
const KIND: Record<string, string> = {
  "self_attn.q_proj": "attn_q",
  "self_attn.k_proj": "attn_k",
  "self_attn.v_proj": "attn_v",
  "self_attn.o_proj": "attn_output",
  "mlp.gate_proj": "ffn_gate",
  "mlp.up_proj": "ffn_up",
  "mlp.down_proj": "ffn_down",
};

/** True when `dir` looks like a PEFT adapter folder. */
export function isPeftDir(dir: string): boolean {
  return existsSync(join(dir, "adapter_config.json")) && statSync(dir).isDirectory();
}

/**
 * Reads a PEFT LoRA folder for a model with config `c`: adapter_config.json (r, lora_alpha, use_rslora)
 * and adapter_model.safetensors (lora_A (r, in), lora_B (out, r) per module). Shapes are checked against
 * the model; Llama q/k B rows get llama.cpp's permutation.
 */
export function readPeft(dir: string, c: ModelConfig): AdapterWeights {
  const cfgPath = join(dir, "adapter_config.json");
  if (!existsSync(cfgPath))
    throw new InputError("no adapter_config.json (not a PEFT adapter folder)", { file: dir });
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, { file: cfgPath });
  }
  const bad = (field: string, why: string) => new InputError(why, { file: cfgPath, field });
  if (cfg.peft_type !== undefined && cfg.peft_type !== "LORA")
    throw bad("peft_type", `only LoRA adapters are supported, this is ${String(cfg.peft_type)}`);
  const r = cfg.r;
  const alpha = cfg.lora_alpha ?? r;
  if (typeof r !== "number" || !Number.isInteger(r) || r < 1)
    throw bad("r", `r must be a positive integer, got ${String(r)}`);
  if (typeof alpha !== "number" || !(alpha > 0))
    throw bad("lora_alpha", `lora_alpha must be > 0, got ${String(alpha)}`);
  if (cfg.fan_in_fan_out === true)
    throw bad("fan_in_fan_out", "fan_in_fan_out adapters (GPT-2 Conv1D) are not supported");
  for (const k of ["rank_pattern", "alpha_pattern"])
    if (cfg[k] && typeof cfg[k] === "object" && Object.keys(cfg[k] as object).length > 0)
      throw bad(k, `per-module ${k} is not supported`);
  if (Array.isArray(cfg.modules_to_save) && cfg.modules_to_save.length > 0)
    throw bad(
      "modules_to_save",
      "fully trained modules (modules_to_save) are not supported; only LoRA layers merge",
    );
  const dora = cfg.use_dora === true;
  const rslora = cfg.use_rslora === true;

  const stPath = join(dir, "adapter_model.safetensors");
  if (!existsSync(stPath))
    throw new InputError(
      "no adapter_model.safetensors (adapter_model.bin is not supported: convert it to safetensors)",
      { file: dir },
    );
  const entries = readSafetensorsIndex(stPath);
  const pairs = new Map<string, { a?: string; b?: string; m?: string }>();
  for (const name of entries.keys()) {
    // DoRA: base_model.model.<module>.lora_magnitude_vector, shape (out,) (PEFT drops ".default.weight")
    const mag =
      /^(?:base_model\.model\.)?(?:model\.)?layers\.(\d+)\.([a-z_]+\.[a-z_]+)\.lora_magnitude_vector(?:\.[A-Za-z0-9_]+)?(?:\.weight)?$/.exec(
        name,
      );
    if (mag) {
      if (!dora)
        throw new InputError(`tensor "${name}" is a DoRA magnitude but adapter_config.json has no use_dora`, {
          file: stPath,
        });
      const kind = KIND[mag[2]];
      if (!kind)
        throw new InputError(`tensor "${name}": module ${mag[2]} is not supported`, { file: stPath });
      const key = `blk.${Number(mag[1])}.${kind}`;
      pairs.set(key, { ...pairs.get(key), m: name });
      continue;
    }
    const m =
      /^(?:base_model\.model\.)?(?:model\.)?layers\.(\d+)\.([a-z_]+\.[a-z_]+)\.lora_([AB])(?:\.[A-Za-z0-9_]+)?\.weight$/.exec(
        name,
      );
    if (!m) {
      if (/lora_(A|B|embedding)/.test(name) || !/\.(bias)$/.test(name))
        throw new InputError(
          `tensor "${name}" is not a LoRA layer of a supported module (q/k/v/o/gate/up/down_proj)`,
          { file: stPath },
        );
      continue;
    }
    const kind = KIND[m[2]];
    if (!kind) throw new InputError(`tensor "${name}": module ${m[2]} is not supported`, { file: stPath });
    const layer = Number(m[1]);
    if (layer >= c.nLayer)
      throw new InputError(`tensor "${name}" is for layer ${layer}; the model has ${c.nLayer}`, {
        file: stPath,
      });
    const key = `blk.${layer}.${kind}`;
    const p = pairs.get(key) ?? {};
    p[m[3] === "A" ? "a" : "b"] = name;
    pairs.set(key, p);
  }
  if (pairs.size === 0) throw new InputError("no lora_A / lora_B tensors", { file: stPath });
  const qDim = c.nHead * c.headDim;
  const kvDim = c.nHeadKv * c.headDim;
  const dims: Record<string, [number, number]> = {
    attn_q: [c.nEmbd, qDim],
    attn_k: [c.nEmbd, kvDim],
    attn_v: [c.nEmbd, kvDim],
    attn_output: [qDim, c.nEmbd],
    ffn_gate: [c.nEmbd, c.nFf],
    ffn_up: [c.nEmbd, c.nFf],
    ffn_down: [c.nFf, c.nEmbd],
  };
  const layers = new Map<string, AdapterLayer>();
  for (const [key, p] of pairs) {
    if (!p.a || !p.b)
      throw new InputError(`${key}: lora_A and lora_B must both be present`, { file: stPath });
    const ea = entries.get(p.a)!;
    const eb = entries.get(p.b)!;
    const kind = key.split(".")[2];
    const [inDim, outDim] = dims[kind];
    if (ea.shape.join() !== `${r},${inDim}` || eb.shape.join() !== `${outDim},${r}`)
      throw new InputError(
        `${p.a} (${ea.shape}) / ${p.b} (${eb.shape}) do not fit a ${c.arch} model with ${kind} ${inDim}→${outDim} at rank ${r}: is the adapter for another model?`,
        { file: stPath },
      );
    const a = readEntry(ea);
    let b = readEntry(eb); // torch (out, r) row-major = ggml [r, out]
    const qk = c.arch === "llama" && (kind === "attn_q" || kind === "attn_k");
    const heads = kind === "attn_q" ? c.nHead : c.nHeadKv;
    if (qk) b = permuteQk(b, outDim, r, heads);
    let magnitude: Float32Array | undefined;
    if (dora) {
      if (!p.m)
        throw new InputError(`${key}: use_dora is set but lora_magnitude_vector is missing`, {
          file: stPath,
        });
      const em = entries.get(p.m)!;
      if (em.shape.join() !== `${outDim}`)
        throw new InputError(`${p.m} (${em.shape}) must have shape (${outDim})`, { file: stPath });
      magnitude = readEntry(em);
      // one value per output row: the rows are permuted like B's
      if (qk) magnitude = permuteQk(magnitude, outDim, 1, heads);
    }
    layers.set(key, { a, b, inDim, outDim, r, magnitude });
  }
  return {
    arch: c.arch,
    scale: rslora ? alpha / Math.sqrt(r) : alpha / r,
    r,
    alpha,
    rslora,
    dora,
    layers,
    source: dir,
  };
}

function readEntry(e: {
  file: string;
  dtype: string;
  shape: number[];
  start: number;
  end: number;
}): Float32Array {
  const bytes = new Uint8Array(e.end - e.start);
  const fd = openSync(e.file, "r");
  try {
    if (readSync(fd, bytes, 0, bytes.length, e.start) !== bytes.length)
      throw new InputError("truncated tensor data", { file: e.file });
  } finally {
    closeSync(fd);
  }
  const type = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 }[e.dtype];
  if (type === undefined) throw new InputError(`dtype ${e.dtype} is not supported`, { file: e.file });
  return dequantize(
    type,
    bytes,
    e.shape.reduce((x, y) => x * y, 1),
  );
}

/**
 * A PEFT adapter folder as a LoraAdapter on `model` (for generation, training on, merging or saving as
 * llama.cpp's GGUF). Free it with adapter.free().
 */
export function importPeft(dir: string, model: Model): LoraAdapter {
  const w = readPeft(dir, model.config);
  const names = [...w.layers.keys()];
  const adapter = LoraAdapter.create(model, {
    r: w.r,
    alpha: w.alpha,
    rslora: w.rslora,
    dora: w.dora,
    targets: names.map((n) => `/^${n.replace(/\./g, "\\.")}$/`),
  });
  for (const l of adapter.layers.values()) {
    const src = w.layers.get(l.name)!;
    l.a.set(src.a);
    l.b.set(src.b);
    if (l.dora && src.magnitude) l.dora.m.set(src.magnitude);
  }
  adapter.refreshNorms();
  return adapter;
}
