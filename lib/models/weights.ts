// Model weights in engine tensors, loaded from a GGUF file (memory-mapped) after checking every name,
// shape and type against what the architecture needs.
import { InputError } from "../util/errors.js";
import { GgmlType, isGgmlType, ggmlTypeName, tensorBytes } from "../gguf/ggml-types.js";
import type { GgufFile } from "../gguf/index.js";
import { Context } from "../engine/context.js";
import type { Tensor } from "../engine/tensor.js";
import { FrozenWeights, type TransposedChoice } from "../engine/weights.js";
import { dequantize } from "../engine/quant.js";
import type { ModelConfig } from "./config.js";
import { tensorSpecs } from "./tensors.js";

/** How the frozen matrices are held (training): type, placement and transposed copies. */
export interface FrozenOptions {
  /** Store every matrix (not the embedding) in this ggml type (QLoRA); default: as in the file. */
  quantize?: number;
  /** CPU extra buffer types (AMX, CPU_REPACK) where the device supports them. Default "auto". */
  extraBuffer?: "auto" | "none";
  /** Type of the transposed copies for the backward pass (engine/weights.ts). Default "auto". */
  transposed?: TransposedChoice;
}

/** How to hold the weights in memory. */
export interface ModelLoadOptions {
  /** Frozen base for LoRA/QLoRA training (type, placement, transposed copies). */
  frozen?: FrozenOptions;
  /** Every tensor as f32 (dequantized when needed), for full fine-tuning. */
  trainable?: boolean;
}

export class ModelWeights {
  private constructor(
    readonly ctx: Context,
    private readonly byName: Map<string, Tensor>,
    private readonly frozen?: FrozenWeights,
  ) {}

  /** Frozen matrix → its transposed copy, for the fast backward (empty when loaded without FrozenOptions). */
  get transposedMap(): Map<bigint, Tensor> {
    return this.frozen?.transposedMap ?? new Map();
  }
  /** Storage type of each matrix as loaded (after quantization and fallbacks). */
  typeOf(name: string): number {
    return this.get(name).type;
  }

  get(name: string): Tensor {
    const t = this.byName.get(name);
    if (!t) throw new InputError(`the model has no tensor "${name}"`);
    return t;
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  /** The output projection: `output.weight`, or the token embedding when tied. */
  get output(): Tensor {
    return this.byName.get("output.weight") ?? this.get("token_embd.weight");
  }
  names(): string[] {
    return [...this.byName.keys()];
  }
  get bytes(): number {
    return this.ctx.allocatedBytes + (this.frozen?.bytes ?? 0);
  }

  /** Loads the tensors `config` needs from `file` into the backend's memory. */
  static fromGguf(file: GgufFile, config: ModelConfig, options: ModelLoadOptions = {}): ModelWeights {
    const frozenOptions = options.trainable ? undefined : options.frozen;
    const specs = tensorSpecs(config);
    const ctx = new Context({ maxTensors: specs.length + 1 });
    const byName = new Map<string, Tensor>();
    const frozen = frozenOptions
      ? new FrozenWeights({
          maxWeights: specs.length,
          extraBuffer: frozenOptions.extraBuffer ?? "auto",
          transposed: frozenOptions.transposed ?? "auto",
        })
      : undefined;
    try {
      for (const spec of specs) {
        const info = file.tensor(spec.name);
        if (!info) {
          if (spec.optional) continue;
          throw new InputError(`missing tensor "${spec.name}"`, { file: file.path });
        }
        const shape = [...info.shape];
        while (shape.length > spec.shape.length && shape[shape.length - 1] === 1) shape.pop();
        if (shape.length !== spec.shape.length || shape.some((n, i) => n !== spec.shape[i]))
          throw new InputError(`tensor "${spec.name}" has shape [${info.shape}], expected [${spec.shape}]`, {
            file: file.path,
          });
        if (!isGgmlType(info.type) || (spec.kind === "vector" && info.type !== GgmlType.F32))
          throw new InputError(`tensor "${spec.name}" has unsupported type ${info.type}`, {
            file: file.path,
          });
        if (info.nbytes !== tensorBytes(info.type, spec.shape))
          throw new InputError(
            `tensor "${spec.name}" holds ${info.nbytes} bytes, ${ggmlTypeName(info.type)} [${spec.shape}] needs ${tensorBytes(info.type, spec.shape)}`,
            { file: file.path },
          );
        if (frozen && spec.kind === "matrix") {
          const fw = frozen.add({
            name: spec.name,
            shape: [spec.shape[0], spec.shape[1]],
            bytes: file.tensorData(spec.name),
            sourceType: info.type,
            type: frozenOptions?.quantize ?? info.type,
          });
          byName.set(spec.name, fw.tensor);
        } else
          byName.set(
            spec.name,
            ctx.tensor(options.trainable ? GgmlType.F32 : info.type, spec.shape, spec.name),
          );
      }
      ctx.allocate(undefined, "weights");
      for (const [name, t] of byName)
        if (!frozen?.weights.some((w) => w.tensor.ptr === t.ptr)) t.set(file.tensorData(name));
    } catch (e) {
      frozen?.free();
      ctx.free();
      throw e;
    }
    return new ModelWeights(ctx, byName, frozen);
  }

  free(): void {
    this.frozen?.free();
    this.ctx.free();
  }
}
