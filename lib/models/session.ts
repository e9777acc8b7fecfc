// Incremental decoding of one sequence with a KV cache held in backend memory. Each call builds a small
// graph for the new tokens (their count and the cache length change from call to call).
import { Context } from "../engine/context.js";
import { Graph } from "../engine/graph.js";
import { Ops } from "../engine/ops.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { InputError } from "../util/errors.js";
import { attentionMask, buildDecoder, plainLinear, type LinearFn } from "./decoder.js";
import type { Model } from "./model.js";

export class Session {
  private readonly cache: Context;
  private readonly k;
  private readonly v;
  /** Tokens already in the cache. */
  nPast = 0;

  constructor(
    readonly model: Model,
    readonly nCtx: number,
    private readonly linear: LinearFn = plainLinear,
  ) {
    const c = model.config;
    if (!Number.isInteger(nCtx) || nCtx < 1 || nCtx > 1 << 20)
      throw new InputError(`context size ${nCtx} is not sensible`);
    this.cache = new Context({ maxTensors: 2 * c.nLayer });
    const row = c.headDim * c.nHeadKv;
    this.k = Array.from({ length: c.nLayer }, (_, l) => this.cache.f32([row, nCtx], `k cache ${l}`));
    this.v = Array.from({ length: c.nLayer }, (_, l) => this.cache.f32([row, nCtx], `v cache ${l}`));
    this.cache.allocate();
  }

  /** Feeds tokens; returns the logits after the last one. */
  eval(tokens: number[]): Float32Array {
    if (tokens.length === 0) throw new InputError("no tokens to evaluate");
    this.model.checkTokens(tokens);
    const c = this.model.config;
    const T = tokens.length;
    const nKv = this.nPast + T;
    if (nKv > this.nCtx) throw new InputError(`context full: ${nKv} tokens > context size ${this.nCtx}`);
    const ctx = new Context({ maxTensors: 64 + c.nLayer * 90, graphSize: 256 + c.nLayer * 90 });
    try {
      const ops = new Ops(ctx);
      const inTokens = ctx.input(GgmlType.I32, [T], "tokens");
      const positions = ctx.input(GgmlType.I32, [T], "positions");
      const writeRows = ctx.input(GgmlType.I32, [T], "kv rows");
      const lastRow = ctx.input(GgmlType.I32, [1], "last row");
      const mask = ctx.input(GgmlType.F32, [nKv, T, 1, 1], "mask");
      const maskSwa = c.slidingWindow ? ctx.input(GgmlType.F32, [nKv, T, 1, 1], "mask swa") : undefined;
      const { logits } = buildDecoder(
        ops,
        c,
        this.model.weights,
        {
          tokens: inTokens,
          positions,
          mask,
          maskSwa,
          seqLen: T,
          batch: 1,
          outputRows: lastRow,
          kv: { k: this.k, v: this.v, writeRows, nKv },
        },
        this.linear,
      );
      const graph = Graph.build(ctx, [logits]);
      graph.allocate();
      const pos = Int32Array.from({ length: T }, (_, i) => this.nPast + i);
      const keyPos = Int32Array.from({ length: nKv }, (_, i) => i);
      inTokens.set(Int32Array.from(tokens));
      positions.set(pos);
      writeRows.set(pos);
      lastRow.set(new Int32Array([T - 1]));
      mask.set(attentionMask({ queryPos: pos, keyPos, seqLen: T, batch: 1, nKv }));
      maskSwa?.set(
        attentionMask({ queryPos: pos, keyPos, seqLen: T, batch: 1, nKv, window: c.slidingWindow }),
      );
      graph.compute();
      const out = logits.f32().slice();
      graph.free();
      this.nPast = nKv;
      return out;
    } finally {
      ctx.free();
    }
  }

  dispose(): void {
    this.cache.free();
  }
}
