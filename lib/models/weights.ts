// Model weights in engine tensors, loaded from a GGUF file (memory-mapped) after checking every name,
// shape and type against what the architecture needs.
import { InputError } from "../util/errors.js";
import { GgmlType, isGgmlType, ggmlTypeName, tensorBytes } from "../gguf/ggml-types.js";
import type { GgufFile } from "../gguf/index.js";
import { Context } from "../engine/context.js";
import type { Tensor } from "../engine/tensor.js";
import type { ModelConfig } from "./config.js";
import { tensorSpecs } from "./tensors.js";

export class ModelWeights {
  private constructor(
    readonly ctx: Context,
    private readonly byName: Map<string, Tensor>,
  ) {}

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
    return this.ctx.allocatedBytes;
  }

  /** Loads the tensors `config` needs from `file` into the backend's memory. */
  static fromGguf(file: GgufFile, config: ModelConfig): ModelWeights {
    const specs = tensorSpecs(config);
    const ctx = new Context({ maxTensors: specs.length + 1 });
    const byName = new Map<string, Tensor>();
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
        byName.set(spec.name, ctx.tensor(info.type, spec.shape, spec.name));
      }
      ctx.allocate(undefined, "weights");
      for (const [name, t] of byName) t.set(file.tensorData(name));
    } catch (e) {
      ctx.free();
      throw e;
    }
    return new ModelWeights(ctx, byName);
  }

  free(): void {
    this.ctx.free();
  }
}
