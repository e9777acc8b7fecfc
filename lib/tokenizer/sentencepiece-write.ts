// Writing a SentencePiece ModelProto (`tokenizer.model`) from GGUF tokenizer metadata of a "llama" (SPM)
// vocabulary, so a Hugging Face checkpoint exported from a GGUF carries the file transformers' slow
// tokenizers and llama.cpp's convert_hf_to_gguf.py read. The inverse of sentencepieceModelToGgufMetadata:
// field numbers from sentencepiece_model.proto; the checks are the ones SentencePiece applies when it
// loads a model (model_interface.cc: no empty or repeated pieces, exactly one unknown piece, all 256 byte
// pieces when byte fallback is on), so a file that passes here loads there.
import { InputError } from "../util/errors.js";
import type { TokenizerMetadata } from "./metadata.js";
import { TokenType } from "./vocab.js";

/** SentencePiece piece types (sentencepiece_model.proto), by GGUF token type. */
const SP_TYPE: Record<number, number> = {
  [TokenType.NORMAL]: 1,
  [TokenType.UNKNOWN]: 2,
  [TokenType.CONTROL]: 3,
  [TokenType.USER_DEFINED]: 4,
  [TokenType.UNUSED]: 5,
  [TokenType.BYTE]: 6,
};

/** Protocol-buffers wire-format writer (only what ModelProto needs), into one growing buffer. */
class ProtoWriter {
  private buf = new Uint8Array(64);
  private len = 0;
  private static encoder = new TextEncoder();
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  private varint(v: number): void {
    this.room(10);
    if (v < 0) {
      // negative int32 values are sign-extended to 64 bits: 10 bytes, as protobuf encodes them
      let x = BigInt.asUintN(64, BigInt(v));
      for (let i = 0; i < 10; i++, x >>= 7n) this.buf[this.len++] = Number(x & 0x7fn) | (i < 9 ? 0x80 : 0);
      return;
    }
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }
  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  int(field: number, v: number | boolean): this {
    this.key(field, 0);
    this.varint(typeof v === "boolean" ? Number(v) : v);
    return this;
  }
  float(field: number, v: number): this {
    this.key(field, 5);
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.len, v, true);
    this.len += 4;
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, ProtoWriter.encoder.encode(s));
  }
  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * The SentencePiece piece of a GGUF token: user-defined tokens were stored with "▁" turned back into
 * spaces by llama.cpp's converter (its "pre-normalized" added tokens), so the space is restored as "▁".
 */
export function sentencePieceOf(text: string, type: number): string {
  return type === TokenType.USER_DEFINED ? text.replaceAll(" ", "\u2581") : text;
}

/**
 * A BPE SentencePiece model with the vocabulary (pieces, scores, types), special ids and normalizer flags
 * (add_dummy_prefix = tokenizer.ggml.add_space_prefix, default true; remove_extra_whitespaces, default
 * false) of `meta`. InputError when the vocabulary is not SentencePiece's ("llama") or would not load.
 */
export function writeSentencePieceModel(meta: TokenizerMetadata, where = "tokenizer metadata"): Uint8Array {
  const model = meta["tokenizer.ggml.model"];
  if (model !== "llama")
    throw new InputError(`a "${model}" vocabulary is not a SentencePiece model`, {
      file: where,
      field: "tokenizer.ggml.model",
    });
  const tokens = meta["tokenizer.ggml.tokens"];
  const scores = meta["tokenizer.ggml.scores"];
  const types = meta["tokenizer.ggml.token_type"];
  const fail = (why: string, field = "tokenizer.ggml.tokens") => new InputError(why, { file: where, field });
  if (!scores || scores.length !== tokens.length || !types || types.length !== tokens.length)
    throw fail("SentencePiece needs a score and a type for every token", "tokenizer.ggml.scores");

  const seen = [new Set<string>(), new Set<string>()]; // normal-like pieces, reserved pieces
  const bytes = new Set<number>();
  let unk = -1;
  const pieces = tokens.map((t, i) => {
    const type = SP_TYPE[types[i]] ?? 1;
    const piece = sentencePieceOf(t, types[i]);
    if (piece === "") throw fail(`token ${i} is empty`);
    const set = seen[type === 1 || type === 4 || type === 5 ? 0 : 1];
    if (set.has(piece)) throw fail(`token ${i} ${JSON.stringify(piece)} appears twice`);
    set.add(piece);
    if (type === 2) {
      if (unk >= 0) throw fail(`tokens ${unk} and ${i} are both unknown tokens`, "tokenizer.ggml.token_type");
      unk = i;
    }
    if (type === 6) {
      const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
      if (!m) throw fail(`byte token ${i} ${JSON.stringify(piece)} is not <0xNN>`);
      bytes.add(parseInt(m[1], 16));
    }
    return { piece, score: scores[i], type };
  });
  if (unk < 0) throw fail("SentencePiece needs an unknown token (token type 2)", "tokenizer.ggml.token_type");
  const byteFallback = bytes.size > 0;
  if (byteFallback && bytes.size !== 256)
    throw fail(
      `${bytes.size} of the 256 byte tokens <0x00>…<0xFF> are present; SentencePiece needs all or none`,
    );

  const id = (k: keyof TokenizerMetadata) => {
    const v = meta[k];
    return typeof v === "number" && v >= 0 && v < tokens.length ? v : -1;
  };
  const w = new ProtoWriter();
  for (const p of pieces) w.message(1, new ProtoWriter().string(1, p.piece).float(2, p.score).int(3, p.type));
  const trainer = new ProtoWriter()
    .int(3, 2) // model_type BPE: llama.cpp's SPM tokenizer merges by score, as SentencePiece's BPE does
    .int(4, tokens.length)
    .int(35, byteFallback)
    .int(40, unk)
    .int(41, id("tokenizer.ggml.bos_token_id"))
    .int(42, id("tokenizer.ggml.eos_token_id"))
    .int(43, id("tokenizer.ggml.padding_token_id"));
  const named = (k: keyof TokenizerMetadata, field: number) => {
    const i = id(k);
    if (i >= 0) trainer.string(field, pieces[i].piece);
  };
  trainer.string(45, pieces[unk].piece);
  named("tokenizer.ggml.bos_token_id", 46);
  named("tokenizer.ggml.eos_token_id", 47);
  named("tokenizer.ggml.padding_token_id", 48);
  w.message(2, trainer);
  w.message(
    3,
    new ProtoWriter()
      .string(1, "identity")
      .int(3, meta["tokenizer.ggml.add_space_prefix"] ?? true)
      .int(4, meta["tokenizer.ggml.remove_extra_whitespaces"] ?? false)
      .int(5, true),
  );
  return w.finish();
}
