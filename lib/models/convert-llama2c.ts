// Karpathy's llama2.c checkpoint (.bin: 7 int32 header + f32 weights) + its SentencePiece tokenizer →
// a llama GGUF that llama.cpp loads. Layout facts from llama2.c's run.c (checkpoint_init_weights):
// weights are PyTorch (out, in) row-major, i.e. ggml [in, out]; RoPE pairs are adjacent (llama.cpp's
// "normal" mode), so no Q/K permutation is needed. A negative vocab size means a separate classifier.
import { readFileSync } from "node:fs";
import { InputError } from "../util/errors.js";
import { GgmlType } from "../gguf/ggml-types.js";
import { gguf, writeGguf, type GgufTensorToWrite } from "../gguf/index.js";
import type { GgufMetadataValue } from "../gguf/values.js";
import {
  sentencepieceModelToGgufMetadata,
  llama2cTokenizerToGgufMetadata,
  tokenizerMetadataToGguf,
} from "../tokenizer/index.js";
import { castF32 } from "./cast.js";

export interface Llama2cConvertOptions {
  /** The llama2.c checkpoint (.bin). */
  checkpoint: string;
  /** tokenizer.model (SentencePiece protobuf) or llama2.c's tokenizer.bin. */
  tokenizer: string;
  out: string;
  /** Matrix type in the output. Default f32. */
  type?: "f32" | "f16" | "bf16";
  name?: string;
}

export async function convertLlama2c(o: Llama2cConvertOptions): Promise<{ tensors: number; bytes: number }> {
  const buf = readFileSync(o.checkpoint);
  const where = { file: o.checkpoint };
  if (buf.length < 28) throw new InputError("too short for a llama2.c header (28 bytes)", where);
  const h = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, nLayer, nHead, nKv, vocabSigned, seqLen] = h;
  const vocab = Math.abs(vocabSigned);
  const shared = vocabSigned > 0;
  const sane = (v: number) => Number.isInteger(v) && v > 0 && v < 1 << 20;
  if (![dim, hidden, nLayer, nHead, nKv, vocab, seqLen].every(sane) || dim % nHead !== 0 || nHead % nKv !== 0)
    throw new InputError(`implausible llama2.c header [${[...h].join(", ")}]`, where);
  const hd = dim / nHead;
  const kvDim = nKv * hd;
  const floats = new Float32Array(
    buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length - ((buf.length - 28) % 4)),
  );
  let pos = 0;
  const take = (n: number, what: string) => {
    if (pos + n > floats.length) throw new InputError(`truncated while reading ${what}`, where);
    const a = floats.subarray(pos, pos + n);
    pos += n;
    return a;
  };
  const perLayer = (n: number, what: string) => {
    const all = take(n * nLayer, what);
    return Array.from({ length: nLayer }, (_, l) => all.subarray(l * n, (l + 1) * n));
  };
  const embd = take(vocab * dim, "token embeddings");
  const attnNorm = perLayer(dim, "rms_att");
  const wq = perLayer(dim * dim, "wq");
  const wk = perLayer(dim * kvDim, "wk");
  const wv = perLayer(dim * kvDim, "wv");
  const wo = perLayer(dim * dim, "wo");
  const ffnNorm = perLayer(dim, "rms_ffn");
  const w1 = perLayer(dim * hidden, "w1");
  const w2 = perLayer(hidden * dim, "w2");
  const w3 = perLayer(dim * hidden, "w3");
  const outNorm = take(dim, "rms_final");
  take(seqLen * (hd / 2) * 2, "RoPE tables");
  const cls = shared ? undefined : take(vocab * dim, "classifier");
  if (pos !== floats.length) throw new InputError(`${floats.length - pos} unexpected trailing floats`, where);

  const matType = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16 }[o.type ?? "f32"];
  const tensors: GgufTensorToWrite[] = [];
  const vec = (name: string, data: Float32Array) =>
    tensors.push({
      name,
      type: GgmlType.F32,
      shape: [data.length],
      data: new Uint8Array(data.slice().buffer),
    });
  const mat = (name: string, data: Float32Array, inDim: number, outDim: number) =>
    tensors.push({ name, type: matType, shape: [inDim, outDim], data: () => castF32(data, matType) });
  mat("token_embd.weight", embd, dim, vocab);
  vec("output_norm.weight", outNorm);
  if (cls) mat("output.weight", cls, dim, vocab);
  for (let l = 0; l < nLayer; l++) {
    const b = `blk.${l}`;
    vec(`${b}.attn_norm.weight`, attnNorm[l]);
    mat(`${b}.attn_q.weight`, wq[l], dim, dim);
    mat(`${b}.attn_k.weight`, wk[l], dim, kvDim);
    mat(`${b}.attn_v.weight`, wv[l], dim, kvDim);
    mat(`${b}.attn_output.weight`, wo[l], dim, dim);
    vec(`${b}.ffn_norm.weight`, ffnNorm[l]);
    mat(`${b}.ffn_gate.weight`, w1[l], dim, hidden);
    mat(`${b}.ffn_down.weight`, w2[l], hidden, dim);
    mat(`${b}.ffn_up.weight`, w3[l], dim, hidden);
  }

  const tok = o.tokenizer.endsWith(".bin")
    ? llama2cTokenizerToGgufMetadata(o.tokenizer, vocab)
    : sentencepieceModelToGgufMetadata(o.tokenizer, { vocabSize: vocab });
  const metadata = new Map<string, GgufMetadataValue>([
    ["general.architecture", gguf.str("llama")],
    ["general.name", gguf.str(o.name ?? "llama2.c model")],
    ["general.file_type", gguf.u32(matType === GgmlType.F32 ? 0 : matType === GgmlType.F16 ? 1 : 32)],
    ["llama.context_length", gguf.u32(seqLen)],
    ["llama.embedding_length", gguf.u32(dim)],
    ["llama.block_count", gguf.u32(nLayer)],
    ["llama.feed_forward_length", gguf.u32(hidden)],
    ["llama.attention.head_count", gguf.u32(nHead)],
    ["llama.attention.head_count_kv", gguf.u32(nKv)],
    ["llama.rope.dimension_count", gguf.u32(hd)],
    ["llama.attention.layer_norm_rms_epsilon", gguf.f32(1e-5)],
    ["llama.rope.freq_base", gguf.f32(10000)],
    ...tokenizerMetadataToGguf(tok),
  ]);
  const r = await writeGguf(o.out, { metadata, tensors });
  return { tensors: tensors.length, bytes: r.bytes };
}
