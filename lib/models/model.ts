// A loaded decoder model: config, weights in backend memory, tokenizer and chat template, plus the two
// forward modes everything else uses — whole sequences (logits, evaluation, training) and incremental
// decoding with a KV cache (generation).
import { openGguf, type GgufFile } from "../gguf/index.js";
import { toPlain } from "../gguf/values.js";
import { Context } from "../engine/context.js";
import { Graph } from "../engine/graph.js";
import { Ops } from "../engine/ops.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { InputError } from "../util/errors.js";
import { tokenizerFromGgufMetadata } from "../tokenizer/from-gguf.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { readModelConfig, type ModelConfig } from "./config.js";
import { attentionMask, buildDecoder, nodesPerLayer, plainLinear, type LinearFn } from "./decoder.js";
import { softTokenInputs, type SoftTokenValues } from "./soft-tokens.js";
import { ModelWeights, type ModelLoadOptions } from "./weights.js";

export class Model {
  private constructor(
    readonly path: string,
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    readonly tokenizer: Tokenizer,
    readonly chatTemplate: string | undefined,
    /** Every metadata entry of the file (kept for export). */
    readonly file: GgufFile,
  ) {}

  /** Loads a GGUF model of a supported architecture. The file stays mapped until dispose(). */
  static load(path: string, options: ModelLoadOptions = {}): Model {
    const file = openGguf(path);
    try {
      const config = readModelConfig(file);
      const meta: Record<string, unknown> = {};
      for (const [key, value] of file.metadata) if (key.startsWith("tokenizer.")) meta[key] = toPlain(value);
      if (!meta["tokenizer.ggml.tokens"])
        throw new InputError("the model has no tokenizer (tokenizer.ggml.tokens)", { file: path });
      const tokenizer = tokenizerFromGgufMetadata(meta);
      const weights = ModelWeights.fromGguf(file, config, options);
      const template = file.get("tokenizer.chat_template");
      return new Model(
        path,
        config,
        weights,
        tokenizer,
        typeof template === "string" ? template : undefined,
        file,
      );
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Checks token ids before they reach get_rows (an out-of-range id would read out of bounds). */
  checkTokens(tokens: ArrayLike<number>): void {
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.config.nVocab)
        throw new InputError(
          `token id ${t} at position ${i} is outside the vocabulary (0..${this.config.nVocab - 1})`,
        );
    }
  }

  /**
   * Logits [T][nVocab] for one sequence of token ids (positions 0..T−1), with an optional linear hook
   * (LoRA adapters) and soft tokens (image embeddings) replacing some columns. One graph, built and freed here.
   */
  logits(tokens: number[], linear: LinearFn = plainLinear, soft?: SoftTokenValues): Float32Array[] {
    this.checkTokens(tokens);
    const T = tokens.length;
    if (T === 0) return [];
    const c = this.config;
    const perLayer = nodesPerLayer(c);
    const ctx = new Context({ maxTensors: 64 + c.nLayer * perLayer, graphSize: 256 + c.nLayer * perLayer });
    try {
      const ops = new Ops(ctx);
      const inTokens = ctx.input(GgmlType.I32, [T], "tokens");
      const positions = ctx.input(GgmlType.I32, [T], "positions");
      const mask = ctx.input(GgmlType.F32, [T, T, 1, 1], "mask");
      const maskSwa = c.slidingWindow ? ctx.input(GgmlType.F32, [T, T, 1, 1], "mask swa") : undefined;
      const st = soft ? softTokenInputs(ctx, c.nEmbd, T, soft) : undefined;
      const { logits } = buildDecoder(
        ops,
        c,
        this.weights,
        { tokens: inTokens, positions, mask, maskSwa, seqLen: T, batch: 1, inference: true, softTokens: st?.inputs },
        linear,
      );
      const graph = Graph.build(ctx, [logits]);
      graph.allocate();
      const pos = Int32Array.from({ length: T }, (_, i) => i);
      inTokens.set(Int32Array.from(tokens));
      positions.set(pos);
      st?.fill();
      const groups = st?.groups;
      const m = { queryPos: pos, keyPos: pos, seqLen: T, batch: 1, nKv: T, queryGroups: groups, keyGroups: groups };
      mask.set(attentionMask(m));
      maskSwa?.set(attentionMask({ ...m, window: c.slidingWindow }));
      graph.compute();
      const all = logits.f32();
      graph.free();
      return Array.from({ length: T }, (_, t) => all.slice(t * c.nVocab, (t + 1) * c.nVocab));
    } finally {
      ctx.free();
    }
  }

  dispose(): void {
    this.weights.free();
    this.file.close();
  }
}
