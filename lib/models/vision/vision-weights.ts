// The vision tower's weights in engine tensors, loaded from an mmproj GGUF after checking every name,
// shape and type against siglipTensorSpecs (what llama.cpp's clip loader asks for).
import { InputError } from "../../util/errors.js";
import { GgmlType, ggmlTypeName, isGgmlType, tensorBytes } from "../../gguf/ggml-types.js";
import type { GgufFile } from "../../gguf/index.js";
import { Context } from "../../engine/context.js";
import type { Tensor } from "../../engine/tensor.js";
import { dequantize } from "../../engine/quant.js";
import { siglipTensorSpecs, type SiglipVisionConfig } from "./siglip-config.js";

export interface VisionLoadOptions {
  /** Hold every tensor as f32 (dequantized/converted), so that all of them can be trained. Default false. */
  trainable?: boolean;
}

/** One tensor's bytes as written to (or read from) an mmproj. */
export interface VisionTensorData {
  type: number;
  data: Uint8Array;
}

export class VisionWeights {
  private constructor(
    readonly ctx: Context,
    private readonly byName: Map<string, Tensor>,
  ) {}

  get(name: string): Tensor {
    const t = this.byName.get(name);
    if (!t) throw new InputError(`the vision model has no tensor "${name}"`);
    return t;
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  names(): string[] {
    return [...this.byName.keys()];
  }
  /**
   * Tensors for full fine-tuning (only meaningful when loaded with `trainable`): every f32 tensor, or those
   * whose name matches `filter` (e.g. /^mm\./ for the projector only). Pass them to markTrainable().
   */
  params(filter?: RegExp): Tensor[] {
    return [...this.byName.entries()]
      .filter(([n, t]) => t.type === GgmlType.F32 && (!filter || filter.test(n)))
      .map(([, t]) => t);
  }
  /** Every tensor's current bytes (type as held), for saveMmproj after training. */
  snapshot(): Map<string, VisionTensorData> {
    return new Map([...this.byName].map(([n, t]) => [n, { type: t.type, data: t.bytes() }]));
  }
  get bytes(): number {
    return this.ctx.allocatedBytes;
  }

  /** Loads the tensors `c` needs from an mmproj file into backend memory. */
  static fromGguf(file: GgufFile, c: SiglipVisionConfig, o: VisionLoadOptions = {}): VisionWeights {
    const specs = siglipTensorSpecs(c);
    const data = new Map<string, VisionTensorData>();
    for (const spec of specs) {
      const info = file.tensor(spec.name);
      if (!info) throw new InputError(`missing tensor "${spec.name}"`, { file: file.path });
      const shape = [...info.shape];
      while (shape.length > spec.shape.length && shape[shape.length - 1] === 1) shape.pop();
      if (shape.length !== spec.shape.length || shape.some((n, i) => n !== spec.shape[i]))
        throw new InputError(`tensor "${spec.name}" has shape [${info.shape}], expected [${spec.shape}]`, {
          file: file.path,
        });
      if (!isGgmlType(info.type) || info.nbytes !== tensorBytes(info.type, spec.shape))
        throw new InputError(`tensor "${spec.name}" has a bad type ${info.type} or size ${info.nbytes}`, {
          file: file.path,
        });
      data.set(spec.name, { type: info.type, data: file.tensorData(spec.name) });
    }
    return VisionWeights.fromData(c, data, o);
  }

  /** Builds the weights from tensor bytes (a snapshot, or freshly made random tensors). */
  static fromData(
    c: SiglipVisionConfig,
    data: Map<string, VisionTensorData>,
    o: VisionLoadOptions = {},
  ): VisionWeights {
    const specs = siglipTensorSpecs(c);
    const ctx = new Context({ maxTensors: specs.length + 1 });
    const byName = new Map<string, Tensor>();
    try {
      const host = new Map<string, Uint8Array>();
      for (const spec of specs) {
        const d = data.get(spec.name);
        if (!d) throw new InputError(`missing tensor "${spec.name}"`);
        if (d.data.byteLength !== tensorBytes(d.type, spec.shape))
          throw new InputError(
            `tensor "${spec.name}": ${d.data.byteLength} bytes do not hold ${ggmlTypeName(d.type)} [${spec.shape}]`,
          );
        // Norms, biases and the embeddings enter element-wise ops (add/mul) and are held in f32.
        const toF32 = o.trainable || spec.kind !== "matrix";
        const type = toF32 ? GgmlType.F32 : d.type;
        const n = spec.shape.reduce((a, b) => a * b, 1);
        const bytes =
          toF32 && d.type !== GgmlType.F32 ? new Uint8Array(dequantize(d.type, d.data, n).buffer) : d.data;
        byName.set(spec.name, ctx.tensor(type, spec.shape, spec.name));
        host.set(spec.name, bytes);
      }
      ctx.allocate(undefined, "weights");
      for (const [name, t] of byName) t.set(host.get(name)!);
    } catch (e) {
      ctx.free();
      throw e;
    }
    return new VisionWeights(ctx, byName);
  }

  free(): void {
    this.ctx.free();
  }
}
