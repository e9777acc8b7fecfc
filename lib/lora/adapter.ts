// A LoRA adapter on a loaded model: y = W·x + s·B·A·dropout(x), s = α/r (rsLoRA: α/√r), A random and
// B zero at the start as PEFT does. A is ggml [in, r] and B [r, out] — llama.cpp's adapter layout, which
// is also PEFT's (lora_A.weight (r, in), lora_B.weight (out, r)) read as row-major bytes. With `dora`, each
// layer also has a magnitude m [out] and y = m/‖W + s·B·A‖ ⊙ (W·x + s·B·A·dropout(x)) (see dora.ts).
import { InputError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { gguf, openGguf, writeGguf, type GgufTensorToWrite } from "../gguf/index.js";
import type { GgufMetadataValue } from "../gguf/values.js";
import { Context } from "../engine/context.js";
import type { Ops } from "../engine/ops.js";
import type { Tensor } from "../engine/tensor.js";
import type { LinearFn } from "../models/decoder.js";
import type { Model } from "../models/model.js";
import { SeededRandom } from "../data/random.js";
import { resolveTargets } from "./targets.js";
import { DoraNorms, rowSumsOfSquares, storedBaseMatrix, type DoraTensors } from "./dora.js";

export interface LoraConfig {
  /** Rank r (≥ 1). */
  r: number;
  /** α; the update is scaled by α/r (or α/√r with rsLoRA). */
  alpha: number;
  /** Dropout probability on the adapter's input during training. Default 0. */
  dropout?: number;
  /** rsLoRA scaling α/√r. Default false. */
  rslora?: boolean;
  /** Target modules: "all-linear", "q,k,v,o,gate,up,down", HF names, or /regex/. */
  targets: string | string[];
  /** DoRA: a trainable magnitude per output row on top of the LoRA update (PEFT's use_dora). Default false. */
  dora?: boolean;
}

export interface LoraLayer {
  /** Layer name, e.g. "blk.0.attn_q". */
  name: string;
  a: Tensor;
  b: Tensor;
  inDim: number;
  outDim: number;
  /** DoRA's magnitude and norms (DoRA adapters only). */
  dora?: DoraTensors;
}

/** Dropout masks a training graph needs refreshed before every compute. */
export interface DropoutInput {
  tensor: Tensor;
  p: number;
}

export class LoraAdapter {
  private norms?: DoraNorms;

  private constructor(
    readonly ctx: Context,
    readonly layers: Map<string, LoraLayer>,
    readonly config: Required<LoraConfig>,
  ) {}

  get scale(): number {
    const { alpha, r, rslora } = this.config;
    return rslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  /** Trainable tensors in a fixed order (A, B and — DoRA — m per layer, layers in model order). */
  params(): Tensor[] {
    return [...this.layers.values()].flatMap((l) => (l.dora ? [l.a, l.b, l.dora.m] : [l.a, l.b]));
  }

  get parameterCount(): number {
    return [...this.layers.values()].reduce(
      (s, l) => s + this.config.r * (l.inDim + l.outDim) + (l.dora ? l.outDim : 0),
      0,
    );
  }

  /**
   * DoRA: recomputes ‖W + s·B·A‖ from the current A and B. Call after anything changes A or B outside this
   * class (an optimizer step); restore() and the constructors call it themselves. No-op for plain LoRA.
   */
  refreshNorms(): void {
    this.norms?.refresh();
  }

  /** A fresh adapter for `model`: A ~ U(−1/√in, 1/√in) (PEFT's kaiming-uniform with a = √5), B = 0. */
  static create(model: Model, cfg: LoraConfig, seed = 0): LoraAdapter {
    const config = checkConfig(cfg);
    const names = resolveTargets(config.targets, model.config.nLayer);
    const adapter = LoraAdapter.allocate(model, names, config);
    const rng = new SeededRandom(seed);
    const rand = () => rng.next();
    for (const l of adapter.layers.values()) {
      const bound = 1 / Math.sqrt(l.inDim);
      l.a.set(Float32Array.from({ length: l.inDim * config.r }, () => (rand() * 2 - 1) * bound));
      l.b.fillBytes(0);
    }
    adapter.refreshNorms();
    return adapter;
  }

  /**
   * Allocates A, B (and for DoRA m, the norm and ‖W‖², with m = ‖W‖ as PEFT initialises it, computed from
   * the base as the model holds it) and builds DoRA's norm graph.
   */
  private static allocate(model: Model, names: string[], config: Required<LoraConfig>): LoraAdapter {
    const ctx = new Context({ maxTensors: 5 * names.length + 1 });
    const layers = new Map<string, LoraLayer>();
    for (const name of names) {
      const w = model.weights.get(`${name}.weight`);
      const [inDim, outDim] = w.ne;
      const a = ctx.f32([inDim, config.r], `${name}.weight.lora_a`);
      const b = ctx.f32([config.r, outDim], `${name}.weight.lora_b`);
      const dora = config.dora
        ? {
            m: ctx.f32([outDim], `${name}.weight.lora_magnitude`),
            norm: ctx.f32([outDim], `${name}.weight.dora_norm`),
            baseNorm2: ctx.f32([outDim], `${name}.weight.dora_base_norm2`),
          }
        : undefined;
      layers.set(name, { name, a, b, inDim, outDim, dora });
    }
    ctx.allocate();
    const adapter = new LoraAdapter(ctx, layers, config);
    if (!config.dora) return adapter;
    try {
      for (const l of layers.values()) {
        const n2 = rowSumsOfSquares(storedBaseMatrix(model, l.name), l.inDim, l.outDim);
        l.dora!.baseNorm2.set(Float32Array.from(n2));
        l.dora!.m.set(Float32Array.from(n2, Math.sqrt));
      }
      adapter.norms = new DoraNorms(
        [...layers.values()].map((l) => ({
          w: model.weights.get(`${l.name}.weight`),
          a: l.a,
          b: l.b,
          dora: l.dora!,
        })),
        adapter.scale,
      );
    } catch (e) {
      ctx.free();
      throw e;
    }
    return adapter;
  }

  /**
   * The linear hook for graphs. With `dropoutInputs` (training), each adapted layer gets a dropout mask
   * input [in, tokens] that the caller refills before every compute (see {@link fillDropout}).
   */
  linear(dropoutInputs?: DropoutInput[]): LinearFn {
    const s = this.scale;
    const p = this.config.dropout;
    return (ops: Ops, name: string, w: Tensor, x: Tensor) => {
      const base = ops.mulMat(w, x);
      const l = this.layers.get(name);
      if (!l) return base;
      const y = ops.add(base, loraDelta(ops, name, x, l, s, p, dropoutInputs));
      // DoRA: m/‖W + s·B·A‖ per output row; the norm is a plain tensor here, so no gradient reaches it
      return l.dora ? ops.mul(y, ops.div(l.dora.m, l.dora.norm)) : y;
    };
  }

  /** Copies of the weights (checkpoints). */
  snapshot(): Float32Array[] {
    return this.params().map((t) => t.f32());
  }
  restore(values: Float32Array[]): void {
    const ps = this.params();
    if (values.length !== ps.length)
      throw new InputError(`adapter state has ${values.length} tensors, expected ${ps.length}`);
    ps.forEach((t, i) => t.set(values[i]));
    this.refreshNorms();
  }

  /** Writes llama.cpp's LoRA GGUF (loads with node-llama-cpp `createContext({lora})`). */
  async saveGguf(path: string, model: Model): Promise<void> {
    if (this.config.dora)
      throw new InputError(
        "llama.cpp's LoRA adapter GGUF cannot hold DoRA's magnitude vector: merge the adapter into the model " +
          "(mergeAdapter / tunekit merge, exact) or export it as PEFT (use_dora)",
        { file: path, field: "dora" },
      );
    const { r, alpha, rslora } = this.config;
    // llama.cpp scales by alpha/r; rsLoRA's α/√r is expressed as an equivalent alpha.
    const ggufAlpha = rslora ? alpha * Math.sqrt(r) : alpha;
    const metadata = new Map<string, GgufMetadataValue>([
      ["general.architecture", gguf.str(model.config.arch)],
      ["general.type", gguf.str("adapter")],
      ["general.name", gguf.str("tunekit LoRA")],
      ["adapter.type", gguf.str("lora")],
      ["adapter.lora.alpha", gguf.f32(ggufAlpha)],
      ["tunekit.lora.r", gguf.u32(r)],
      ["tunekit.lora.alpha", gguf.f32(alpha)],
      ["tunekit.lora.rslora", gguf.bool(rslora)],
      ["tunekit.lora.dropout", gguf.f32(this.config.dropout)],
    ]);
    const tensors: GgufTensorToWrite[] = this.params().map((t) => ({
      name: t.name,
      type: GgmlType.F32,
      shape: t.ne.slice(0, 2),
      data: () => t.bytes(),
    }));
    await writeGguf(path, { metadata, tensors });
  }

  /** Loads an adapter GGUF (llama.cpp's layout) for `model`, checking every shape. */
  static loadGguf(model: Model, path: string): LoraAdapter {
    const f = openGguf(path);
    try {
      const where = { file: path };
      if (f.getString("general.type", "") !== "adapter" || f.getString("adapter.type", "") !== "lora")
        throw new InputError("not a LoRA adapter (general.type = adapter, adapter.type = lora)", where);
      if (f.getString("general.architecture") !== model.config.arch)
        throw new InputError(
          `adapter is for ${f.getString("general.architecture")}, the model is ${model.config.arch}`,
          where,
        );
      const names = f.tensors
        .filter((t) => t.name.endsWith(".weight.lora_a"))
        .map((t) => t.name.slice(0, -".weight.lora_a".length));
      if (names.length === 0) throw new InputError("the adapter has no lora_a tensors", where);
      const first = f.tensor(`${names[0]}.weight.lora_a`)!;
      const r = first.shape[1];
      const ggufAlpha = f.getNumber("adapter.lora.alpha", r);
      const rslora = f.get("tunekit.lora.rslora") === true;
      const config = checkConfig({
        r,
        alpha: rslora ? f.getNumber("tunekit.lora.alpha") : ggufAlpha,
        rslora,
        dropout: f.getNumber("tunekit.lora.dropout", 0),
        targets: names.map((n) => `/^${n.replace(/\./g, "\\.")}$/`),
      });
      for (const n of names)
        if (!model.weights.has(`${n}.weight`)) throw new InputError(`the model has no layer "${n}"`, where);
      const adapter = LoraAdapter.allocate(model, names, config);
      for (const l of adapter.layers.values()) {
        for (const [suffix, t, shape] of [
          ["lora_a", l.a, [l.inDim, r]],
          ["lora_b", l.b, [r, l.outDim]],
        ] as const) {
          const info = f.tensor(`${l.name}.weight.${suffix}`);
          if (!info || info.type !== GgmlType.F32 || info.shape[0] !== shape[0] || info.shape[1] !== shape[1])
            throw new InputError(`tensor ${l.name}.weight.${suffix} must be f32 [${shape}]`, where);
          t.set(f.tensorData(info.name));
        }
      }
      return adapter;
    } finally {
      f.close();
    }
  }

  free(): void {
    this.norms?.free();
    this.ctx.free();
  }
}

/** Refills dropout masks: each element kept with probability 1−p and scaled by 1/(1−p). */
/**
 * s·B·A·x for one LoRA layer (x through a dropout mask when training with p > 0: the mask is a graph input
 * pushed to `dropoutInputs`, refilled before every compute by {@link fillDropout}).
 */
export function loraDelta(
  ops: Ops,
  name: string,
  x: Tensor,
  l: { a: Tensor; b: Tensor },
  scale: number,
  p: number,
  dropoutInputs?: DropoutInput[],
): Tensor {
  let xin = x;
  if (dropoutInputs && p > 0) {
    const mask = ops.ctx.input(GgmlType.F32, x.ne, `dropout ${name}`.slice(0, 60));
    dropoutInputs.push({ tensor: mask, p });
    xin = ops.mul(x, mask);
  }
  return ops.scale(ops.mulMat(l.b, ops.mulMat(l.a, xin)), scale);
}

/** The linear hook W·x + s·B·A·x for the layers in `layers` (W·x for the others); see {@link loraDelta}. */
export function loraLinear(
  layers: ReadonlyMap<string, { a: Tensor; b: Tensor }>,
  scale: number,
  p: number,
  dropoutInputs?: DropoutInput[],
): LinearFn {
  return (ops: Ops, name: string, w: Tensor, x: Tensor) => {
    const base = ops.mulMat(w, x);
    const l = layers.get(name);
    return l ? ops.add(base, loraDelta(ops, name, x, l, scale, p, dropoutInputs)) : base;
  };
}

export function fillDropout(inputs: DropoutInput[], rand: () => number): void {
  for (const { tensor, p } of inputs) {
    const keep = 1 / (1 - p);
    tensor.set(Float32Array.from({ length: tensor.nelements }, () => (rand() < p ? 0 : keep)));
  }
}

function checkConfig(c: LoraConfig): Required<LoraConfig> {
  if (!Number.isInteger(c.r) || c.r < 1 || c.r > 4096)
    throw new InputError(`LoRA rank must be an integer from 1 to 4096, got ${c.r}`, { field: "lora_r" });
  if (!(c.alpha > 0) || !Number.isFinite(c.alpha))
    throw new InputError(`LoRA alpha must be > 0, got ${c.alpha}`, { field: "lora_alpha" });
  const dropout = c.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1))
    throw new InputError(`LoRA dropout must be in [0, 1), got ${dropout}`, { field: "lora_dropout" });
  return {
    r: c.r,
    alpha: c.alpha,
    dropout,
    rslora: c.rslora ?? false,
    targets: c.targets,
    dora: c.dora ?? false,
  };
}
