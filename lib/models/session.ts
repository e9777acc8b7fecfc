// Incremental decoding of one sequence with a KV cache held in backend memory. A prompt builds a graph for
// its length; single-token steps reuse one graph built once, which attends over the whole cache with the
// rows not yet written masked out (the cache starts zeroed, so those rows are finite).
import { Context } from "../engine/context.js";
import { Graph } from "../engine/graph.js";
import { Ops } from "../engine/ops.js";
import { decodeThreads } from "../engine/threads.js";
import type { Tensor } from "../engine/tensor.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { InputError } from "../util/errors.js";
import { attentionMask, buildDecoder, nodesPerLayer, plainLinear, type LinearFn } from "./decoder.js";
import type { Model } from "./model.js";
import { softTokenInputs, type SoftTokenValues } from "./soft-tokens.js";

/** One built decoding graph and its inputs. */
interface StepGraph {
  ctx: Context;
  graph: Graph;
  T: number;
  nKv: number;
  tokens: Tensor;
  positions: Tensor;
  writeRows: Tensor;
  lastRow: Tensor;
  mask: Tensor;
  maskSwa?: Tensor;
  logits: Tensor;
  /** Soft-token inputs (prompt graphs with images). */
  soft?: ReturnType<typeof softTokenInputs>;
}

export class Session {
  private readonly cache: Context;
  private readonly k: Tensor[];
  private readonly v: Tensor[];
  private single?: StepGraph;
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
    for (const t of [...this.k, ...this.v]) t.fillBytes(0);
  }

  private build(T: number, nKv: number, soft?: SoftTokenValues): StepGraph {
    const c = this.model.config;
    const perLayer = nodesPerLayer(c);
    const ctx = new Context({ maxTensors: 64 + c.nLayer * perLayer, graphSize: 256 + c.nLayer * perLayer });
    try {
      const ops = new Ops(ctx);
      const s = {
        ctx,
        T,
        nKv,
        tokens: ctx.input(GgmlType.I32, [T], "tokens"),
        positions: ctx.input(GgmlType.I32, [T], "positions"),
        writeRows: ctx.input(GgmlType.I32, [T], "kv rows"),
        lastRow: ctx.input(GgmlType.I32, [1], "last row"),
        mask: ctx.input(GgmlType.F32, [nKv, T, 1, 1], "mask"),
        maskSwa: c.slidingWindow ? ctx.input(GgmlType.F32, [nKv, T, 1, 1], "mask swa") : undefined,
        soft: soft ? softTokenInputs(ctx, c.nEmbd, T, soft) : undefined,
      };
      const { logits } = buildDecoder(
        ops,
        c,
        this.model.weights,
        {
          tokens: s.tokens,
          positions: s.positions,
          mask: s.mask,
          maskSwa: s.maskSwa,
          seqLen: T,
          batch: 1,
          inference: true,
          outputRows: s.lastRow,
          kv: { k: this.k, v: this.v, writeRows: s.writeRows, nKv },
          softTokens: s.soft?.inputs,
        },
        this.linear,
      );
      const graph = Graph.build(ctx, [logits]);
      graph.allocate();
      return { ...s, graph, logits };
    } catch (e) {
      ctx.free();
      throw e;
    }
  }

  private run(s: StepGraph, tokens: number[]): Float32Array {
    const c = this.model.config;
    const pos = Int32Array.from({ length: s.T }, (_, i) => this.nPast + i);
    const keyPos = Int32Array.from({ length: s.nKv }, (_, i) => i);
    s.tokens.set(Int32Array.from(tokens));
    s.positions.set(pos);
    s.writeRows.set(pos);
    s.lastRow.set(new Int32Array([s.T - 1]));
    s.soft?.fill();
    // image groups: query columns are this step's tokens, key columns the whole cache (earlier rows: text)
    const groups = s.soft?.groups;
    const keyGroups = groups ? new Int32Array(s.nKv) : undefined;
    keyGroups?.set(groups!, this.nPast);
    const m = { queryPos: pos, keyPos, seqLen: s.T, batch: 1, nKv: s.nKv, queryGroups: groups, keyGroups };
    s.mask.set(attentionMask(m));
    s.maskSwa?.set(attentionMask({ ...m, window: c.slidingWindow }));
    // Like llama.cpp's n_threads vs n_threads_batch: the thread policy of lib/engine/threads.ts for one token.
    s.graph.compute(undefined, s.T === 1 ? decodeThreads(this.model.weights.bytes) : undefined);
    return s.logits.f32().slice();
  }

  /**
   * Feeds tokens; returns the logits after the last one. `soft` puts image embeddings at some of these
   * tokens' columns (span columns count from the first of `tokens`).
   */
  eval(tokens: number[], soft?: SoftTokenValues): Float32Array {
    if (tokens.length === 0) throw new InputError("no tokens to evaluate");
    this.model.checkTokens(tokens);
    const nKv = this.nPast + tokens.length;
    if (nKv > this.nCtx) throw new InputError(`context full: ${nKv} tokens > context size ${this.nCtx}`);
    let out: Float32Array;
    if (soft) {
      const s = this.build(tokens.length, nKv, soft);
      try {
        out = this.run(s, tokens);
      } finally {
        s.graph.free();
        s.ctx.free();
      }
    } else if (tokens.length === 1) {
      this.single ??= this.build(1, this.nCtx);
      out = this.run(this.single, tokens);
    } else {
      const s = this.build(tokens.length, nKv);
      try {
        out = this.run(s, tokens);
      } finally {
        s.graph.free();
        s.ctx.free();
      }
    }
    this.nPast = nKv;
    return out;
  }

  dispose(): void {
    if (this.single) {
      this.single.graph.free();
      this.single.ctx.free();
    }
    this.cache.free();
  }
}
