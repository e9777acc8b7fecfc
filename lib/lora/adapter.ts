// A LoRA adapter on a loaded model: y = W·x + s·B·A·dropout(x), s = α/r (rsLoRA: α/√r), A random and
// B zero at the start as PEFT does. A is ggml [in, r] and B [r, out] — llama.cpp's adapter layout, which
// is also PEFT's (lora_A.weight (r, in), lora_B.weight (out, r)) read as row-major bytes.
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
}

export interface LoraLayer {
  /** Layer name, e.g. "blk.0.attn_q". */
  name: string;
  a: Tensor;
  b: Tensor;
  inDim: number;
  outDim: number;
}

/** Dropout masks a training graph needs refreshed before every compute. */
export interface DropoutInput {
  tensor: Tensor;
  p: number;
}

export class LoraAdapter {
  private constructor(
    readonly ctx: Context,
    readonly layers: Map<string, LoraLayer>,
    readonly config: Required<LoraConfig>,
  ) {}

  get scale(): number {
    const { alpha, r, rslora } = this.config;
    return rslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  /** Trainable tensors in a fixed order (A then B per layer, layers in model order). */
  params(): Tensor[] {
    return [...this.layers.values()].flatMap((l) => [l.a, l.b]);
  }

  get parameterCount(): number {
    return [...this.layers.values()].reduce((s, l) => s + this.config.r * (l.inDim + l.outDim), 0);
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
    return adapter;
  }

  private static allocate(model: Model, names: string[], config: Required<LoraConfig>): LoraAdapter {
    const ctx = new Context({ maxTensors: 2 * names.length + 1 });
    const layers = new Map<string, LoraLayer>();
    for (const name of names) {
      const w = model.weights.get(`${name}.weight`);
      const [inDim, outDim] = w.ne;
      const a = ctx.f32([inDim, config.r], `${name}.weight.lora_a`);
      const b = ctx.f32([config.r, outDim], `${name}.weight.lora_b`);
      layers.set(name, { name, a, b, inDim, outDim });
    }
    ctx.allocate();
    return new LoraAdapter(ctx, layers, config);
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
      let xin = x;
      if (dropoutInputs && p > 0) {
        const mask = ops.ctx.input(GgmlType.F32, x.ne, `dropout ${name}`.slice(0, 60));
        dropoutInputs.push({ tensor: mask, p });
        xin = ops.mul(x, mask);
      }
      return ops.add(base, ops.scale(ops.mulMat(l.b, ops.mulMat(l.a, xin)), s));
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
  }

  /** Writes llama.cpp's LoRA GGUF (loads with node-llama-cpp `createContext({lora})`). */
  async saveGguf(path: string, model: Model): Promise<void> {
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
    this.ctx.free();
  }
}

/** Refills dropout masks: each element kept with probability 1−p and scaled by 1/(1−p). */
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
  return { r: c.r, alpha: c.alpha, dropout, rslora: c.rslora ?? false, targets: c.targets };
}
