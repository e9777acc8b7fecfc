// Frozen weight matrices (the base model under LoRA/QLoRA): stored in any ggml type, optionally in a CPU
// extra buffer type (AMX, CPU_REPACK) when the device says it can multiply by them there, plus a transposed
// copy (f16 by default) that makes the backward pass through them a MUL_MAT instead of ggml's slow OUT_PROD
// (DESIGN §1/§8). Pass `transposedMap` to buildBackward.
import { EngineError } from "../util/errors.js";
import { GgmlType, blockSize, ggmlTypeName, isGgmlType, tensorBytes } from "../gguf/ggml-types.js";
import { getBackend } from "./backend.js";
import { Context } from "./context.js";
import { ggml, poke, type Ptr } from "./ffi.js";
import { Ops } from "./ops.js";
import { dequantize, fallbackType, quantize } from "./quant.js";
import { TENSOR_LAYOUT, type Tensor } from "./tensor.js";

/** A transposed-copy type, null for none, or "auto" (F32 for an F32 weight of ≤ 16384 outputs, else F16/none). */
export type TransposedChoice = number | null | "auto";

/** Where a frozen weight may live: "auto" (the first extra buffer type that supports it), "none", or a name. */
export type ExtraBufferChoice = "auto" | "none" | (string & {});

export interface FrozenWeightsOptions {
  /** Most weights the set will hold. */
  maxWeights: number;
  /**
   * Default type of the transposed copies (F16, BF16, Q8_0 or F32); null: no copies; "auto" (the default):
   * an F32 copy of an F32 weight with up to 16384 outputs (exact; ggml's OUT_PROD through it was 1.7–2.8×
   * slower than the MUL_MAT through the copy at 576×1536), none for wider F32 weights, F16 for other types.
   */
  transposed?: TransposedChoice;
  /** Default placement in CPU extra buffer types. Default "auto". */
  extraBuffer?: ExtraBufferChoice;
}

export interface FrozenWeightOptions {
  /** Tensor name; the transposed copy is named after it with a "ᵀ" suffix. */
  name: string;
  /** [K, N] in ggml order: N rows (one per output) of K inputs. */
  shape: readonly [number, number];
  /** The values as f32, N rows of K. Give either `data` or `bytes`. */
  data?: Float32Array;
  /** The values already stored as `sourceType` (e.g. a GGUF tensor's bytes). */
  bytes?: Uint8Array;
  /** The ggml type of `bytes`. */
  sourceType?: number;
  /**
   * Storage type. Default: `sourceType` for bytes, F32 for data. When K is not a whole number of the type's
   * blocks, llama.cpp's fallback type is used instead (see quant.ts fallbackType and FrozenWeight.type).
   */
  type?: number;
  /** Importance matrix (one weight per input column) for quantizing to the IQ types. */
  imatrix?: Float32Array;
  /** Type of the transposed copy, null for none, or "auto"; overrides the set's default. */
  transposed?: TransposedChoice;
  /** Placement in extra buffer types; overrides the set's default. */
  extraBuffer?: ExtraBufferChoice;
  /**
   * Allow an extra buffer even without a transposed copy. Only correct when no gradient ever flows into the
   * input of the matmul (inference, or the first layer); graphs that would read the weight otherwise are
   * refused at allocation. Default false.
   */
  forwardOnly?: boolean;
}

/**
 * "auto" transposed copies: F16 for stored types other than F32; an exact F32 copy for F32 weights with up to
 * 16384 outputs (1.8× faster than OUT_PROD at 576×1536), none for wider ones — through an LM head of 49152
 * outputs the MUL_MAT was not faster than ggml's OUT_PROD (bench/RESULTS.md).
 */
function autoTransposed(type: number, outputs: number): number | null {
  if (type !== GgmlType.F32) return GgmlType.F16;
  return outputs <= 16384 ? GgmlType.F32 : null;
}

const TRANSPOSED_TYPES = new Set<number>([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0]);

/** One frozen matrix: use `tensor` as the first operand of Ops.mulMat. */
export interface FrozenWeight {
  readonly name: string;
  /** [K, N]. */
  readonly shape: readonly [number, number];
  /** The weight tensor (its data may be in a private layout: never read it back or use it outside mul_mat). */
  readonly tensor: Tensor;
  /** The storage type actually used (after llama.cpp's fallback for rows that are not whole blocks). */
  readonly type: number;
  /** Buffer type holding the weight ("CPU", "CPU_REPACK", "AMX", a GPU's …). */
  readonly bufferType: string;
  /** The transposed copy [N, K], or null. */
  readonly transposed: Tensor | null;
  readonly transposedBufferType: string | null;
}

interface Placement {
  buft: Ptr;
  name: string;
  extra: boolean;
}

export class FrozenWeights {
  private readonly contexts = new Map<Ptr, Context>();
  private readonly list: FrozenWeight[] = [];
  private freed = false;
  readonly options: Required<FrozenWeightsOptions>;

  constructor(options: FrozenWeightsOptions) {
    if (!Number.isSafeInteger(options.maxWeights) || options.maxWeights < 1)
      throw new EngineError(`maxWeights must be a positive integer, got ${options.maxWeights}`);
    this.options = { transposed: "auto", extraBuffer: "auto", ...options };
    checkTransposedType(this.options.transposed);
    checkExtraChoice(this.options.extraBuffer);
  }

  /** Every weight added so far. */
  get weights(): readonly FrozenWeight[] {
    return this.list;
  }

  /** weight → transposed copy, by tensor pointer: the map buildBackward takes. */
  get transposedMap(): Map<bigint, Tensor> {
    const m = new Map<bigint, Tensor>();
    for (const w of this.list) if (w.transposed) m.set(w.tensor.ptr, w.transposed);
    return m;
  }

  /** Bytes of backend memory held (weights and transposed copies). */
  get bytes(): number {
    let n = 0;
    for (const c of this.contexts.values()) n += c.allocatedBytes;
    return n;
  }

  /** Adds a weight: converts it, places it, uploads it and its transposed copy. */
  add(o: FrozenWeightOptions): FrozenWeight {
    if (this.freed) throw new EngineError("FrozenWeights used after free()");
    if (this.list.length >= this.options.maxWeights)
      throw new EngineError(`FrozenWeights holds at most ${this.options.maxWeights} weights`);
    const [K, N] = o.shape;
    for (const d of [K, N])
      if (!Number.isSafeInteger(d) || d < 1) throw new EngineError(`${o.name}: bad shape [${o.shape}]`);
    const source = this.sourceOf(o, K * N);
    const requested = o.type ?? source.type;
    if (!isGgmlType(requested)) throw new EngineError(`${o.name}: unknown ggml type ${requested}`);
    const type = fallbackType(requested, K);
    const tChoice = o.transposed === undefined ? this.options.transposed : o.transposed;
    checkTransposedType(tChoice);
    const tType = tChoice === "auto" ? autoTransposed(type, N) : tChoice;
    const choice = o.extraBuffer ?? this.options.extraBuffer;
    checkExtraChoice(choice);

    // A weight in a private layout must never be read by autograd: only with a transposed copy (which
    // replaces the OUT_PROD that would read it) or when the caller vouches no gradient flows through it.
    const mayUseExtra = tType !== null || o.forwardOnly === true;
    const place = this.placement(o.name, type, [K, N], mayUseExtra ? choice : "none");
    const bytes =
      source.bytes && source.type === type
        ? source.bytes
        : quantize(type, source.f32 ?? dequantize(source.type, source.bytes!, K * N), K, o.imatrix);
    const tensor = this.upload(place, type, [K, N], o.name, bytes);

    let transposed: Tensor | null = null;
    let tPlace: Placement | null = null;
    if (tType !== null) {
      // The transpose of the weight as stored (not of the f32 source): the backward pass must be the
      // derivative of the forward pass that is actually computed.
      const values =
        type === GgmlType.F32
          ? (source.f32 ?? dequantize(source.type, source.bytes!, K * N))
          : dequantize(type, bytes, K * N);
      const tt = fallbackType(tType, N);
      tPlace = this.placement(`${o.name}ᵀ`, tt, [N, K], choice);
      transposed = this.upload(tPlace, tt, [N, K], `${o.name}ᵀ`, quantize(tt, transpose(values, K, N), N));
    }
    const w: FrozenWeight = {
      name: o.name,
      shape: [K, N],
      tensor,
      type,
      bufferType: place.name,
      transposed,
      transposedBufferType: tPlace?.name ?? null,
    };
    this.list.push(w);
    return w;
  }

  private sourceOf(
    o: FrozenWeightOptions,
    n: number,
  ): { type: number; f32?: Float32Array; bytes?: Uint8Array } {
    if (o.data && o.bytes) throw new EngineError(`${o.name}: give either data or bytes, not both`);
    if (o.data) {
      if (o.data.length !== n)
        throw new EngineError(`${o.name}: ${o.data.length} values for shape [${o.shape}] (${n})`);
      return { type: GgmlType.F32, f32: o.data };
    }
    if (o.bytes) {
      if (o.sourceType === undefined) throw new EngineError(`${o.name}: bytes need their sourceType`);
      if (!isGgmlType(o.sourceType)) throw new EngineError(`${o.name}: unknown ggml type ${o.sourceType}`);
      if (o.shape[0] % blockSize(o.sourceType) !== 0)
        throw new EngineError(
          `${o.name}: a ${ggmlTypeName(o.sourceType)} row holds a multiple of ${blockSize(o.sourceType)} values, not ${o.shape[0]}`,
        );
      const expected = tensorBytes(o.sourceType, o.shape);
      if (o.bytes.byteLength !== expected)
        throw new EngineError(
          `${o.name}: ${o.bytes.byteLength} bytes, but ${ggmlTypeName(o.sourceType)} [${o.shape}] takes ${expected}`,
        );
      return { type: o.sourceType, bytes: o.bytes };
    }
    throw new EngineError(`${o.name}: no data`);
  }

  /** Chooses the buffer type for a matrix of `type` and `shape` used as the weight of a MUL_MAT. */
  private placement(
    name: string,
    type: number,
    shape: [number, number],
    choice: ExtraBufferChoice,
  ): Placement {
    const backend = getBackend();
    const dev = backend.device;
    if (choice !== "none") {
      const candidates =
        choice === "auto"
          ? backend.extraBufferTypes
          : backend.extraBufferTypes.filter((e) => e.name === choice);
      if (choice !== "auto" && candidates.length === 0)
        throw new EngineError(
          `${name}: no extra buffer type "${choice}" on this machine (have: ${
            backend.extraBufferTypes.map((e) => e.name).join(", ") || "none"
          })`,
        );
      for (const e of candidates)
        if (supportsMulMat(dev, e.buft, type, shape)) return { buft: e.buft, name: e.name, extra: true };
    }
    if (!supportsMulMat(dev, backend.bufferType, type, shape))
      throw new EngineError(
        `${name}: the ${backend.info.name} device cannot multiply by a ${ggmlTypeName(type)} matrix`,
      );
    return {
      buft: backend.bufferType,
      name: ggml().ggml_backend_buft_name(backend.bufferType),
      extra: false,
    };
  }

  private upload(
    place: Placement,
    type: number,
    shape: [number, number],
    name: string,
    bytes: Uint8Array,
  ): Tensor {
    if (bytes.byteLength !== tensorBytes(type, shape))
      throw new EngineError(`${name}: ${bytes.byteLength} bytes for ${ggmlTypeName(type)} [${shape}]`);
    let ctx = this.contexts.get(place.buft);
    if (!ctx) {
      ctx = new Context({ maxTensors: 2 * this.options.maxWeights });
      this.contexts.set(place.buft, ctx);
    }
    const t = ctx.tensor(type, shape, name);
    ctx.allocate(place.buft, "weights");
    t.set(bytes);
    return t;
  }

  free(): void {
    if (this.freed) return;
    for (const c of this.contexts.values()) c.free();
    this.contexts.clear();
    this.freed = true;
  }
}

/**
 * Asks the device whether it can run MUL_MAT(W, x) with W of `type`/`shape` stored in `buft` and x f32 — the
 * way llama.cpp's loader does: a probe node whose weight carries an empty buffer of that type.
 */
export function supportsMulMat(dev: Ptr, buft: Ptr, type: number, shape: readonly [number, number]): boolean {
  const g = ggml();
  if (!g.ggml_backend_dev_supports_buft(dev, buft)) return false;
  const ctx = new Context({ maxTensors: 4 });
  try {
    const w = ctx.tensor(type, shape, "probe weight");
    const x = ctx.f32([shape[0], 16], "probe input");
    const op = new Ops(ctx).mulMat(w, x);
    const dummy = g.ggml_backend_buft_alloc_buffer(buft, 0);
    if (!dummy) return false;
    poke(w.ptr, TENSOR_LAYOUT.buffer, "void*", dummy);
    try {
      return g.ggml_backend_dev_supports_op(dev, op.ptr);
    } finally {
      poke(w.ptr, TENSOR_LAYOUT.buffer, "void*", null);
      g.ggml_backend_buffer_free(dummy);
    }
  } finally {
    ctx.free();
  }
}

/** N rows of K → K rows of N. */
function transpose(a: Float32Array, K: number, N: number): Float32Array {
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let k = 0; k < K; k++) out[k * N + n] = a[row + k];
  }
  return out;
}

function checkTransposedType(t: TransposedChoice): void {
  if (t !== null && t !== "auto" && !TRANSPOSED_TYPES.has(t))
    throw new EngineError(
      `transposed copies are F32, F16, BF16 or Q8_0, not ${isGgmlType(t) ? ggmlTypeName(t) : t}`,
    );
}

function checkExtraChoice(c: string): void {
  if (typeof c !== "string" || c.length === 0) throw new EngineError(`bad extra buffer choice "${c}"`);
}
