// Tokenizer metadata from SentencePiece `.model` files (protobuf ModelProto) and from llama2.c's
// tokenizer `.bin`, written the way llama.cpp's converters write them.
import { readFileSync } from "node:fs";
import { InputError } from "../util/errors.js";
import type { TokenizerMetadata } from "./metadata.js";
import { asFloat32, asInt32, asString, protoFields, Wire } from "./protobuf.js";
import { TokenType } from "./vocab.js";

/** SentencePiece piece types (sentencepiece_model.proto). */
const SpType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** What a SentencePiece model file holds that a tokenizer needs. */
export interface SentencePieceModel {
  pieces: { piece: string; score: number; type: number }[];
  /** TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  unkId: number;
  bosId: number;
  eosId: number;
  /** -1 when the model has no padding piece. */
  padId: number;
  /** NormalizerSpec.add_dummy_prefix: prepend a space to the input. */
  addDummyPrefix: boolean;
  /** NormalizerSpec.remove_extra_whitespaces. */
  removeExtraWhitespaces: boolean;
}

/** Parse a SentencePiece ModelProto (`tokenizer.model`). `where` names the source in errors. */
export function parseSentencePieceModel(bytes: Uint8Array, where = "tokenizer.model"): SentencePieceModel {
  const model: SentencePieceModel = {
    pieces: [],
    modelType: 1,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
  };
  for (const f of protoFields(bytes, where)) {
    if (f.field === 1 && f.wire === Wire.LEN) {
      const p = { piece: "", score: 0, type: SpType.NORMAL as number };
      for (const g of protoFields(f.bytes!, where)) {
        if (g.field === 1 && g.wire === Wire.LEN) p.piece = asString(g.bytes!);
        else if (g.field === 2 && g.wire === Wire.I32) p.score = asFloat32(g.bytes!);
        else if (g.field === 3 && g.wire === Wire.VARINT) p.type = asInt32(g.varint!);
      }
      model.pieces.push(p);
    } else if (f.field === 2 && f.wire === Wire.LEN) {
      for (const g of protoFields(f.bytes!, where)) {
        if (g.wire !== Wire.VARINT) continue;
        const v = asInt32(g.varint!);
        if (g.field === 3) model.modelType = v;
        else if (g.field === 40) model.unkId = v;
        else if (g.field === 41) model.bosId = v;
        else if (g.field === 42) model.eosId = v;
        else if (g.field === 43) model.padId = v;
      }
    } else if (f.field === 3 && f.wire === Wire.LEN) {
      for (const g of protoFields(f.bytes!, where)) {
        if (g.wire !== Wire.VARINT) continue;
        if (g.field === 3) model.addDummyPrefix = g.varint !== 0n;
        else if (g.field === 4) model.removeExtraWhitespaces = g.varint !== 0n;
      }
    }
  }
  if (model.pieces.length === 0)
    throw new InputError("no pieces found: not a SentencePiece model", { file: where });
  return model;
}

/** Options of {@link sentencepieceModelToGgufMetadata}. */
export interface SentencePieceConversionOptions {
  /**
   * Vocabulary size of the model's embedding (config.json `vocab_size`). Larger than the piece count:
   * padded with "[PAD<i>]" unused tokens; smaller: extra pieces are dropped (as convert_hf_to_gguf.py does).
   */
  vocabSize?: number;
}

/**
 * GGUF tokenizer metadata from a SentencePiece model (a path to `tokenizer.model`, or its bytes), as
 * convert_hf_to_gguf.py writes it for a SentencePiece vocabulary: model "llama", pre "default", pieces as
 * tokens with their scores and types (unknown/control/unused/byte; other pieces normal), special ids from
 * the trainer spec, and `add_space_prefix = false` when the normalizer adds no dummy prefix.
 */
export function sentencepieceModelToGgufMetadata(
  model: string | Uint8Array,
  options: SentencePieceConversionOptions = {},
): TokenizerMetadata {
  const where = typeof model === "string" ? model : "tokenizer.model";
  const sp = parseSentencePieceModel(typeof model === "string" ? readFileSync(model) : model, where);
  const n = options.vocabSize ?? sp.pieces.length;
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const scores = new Array<number>(n).fill(-10000);
  const types = new Array<number>(n).fill(TokenType.UNUSED);
  sp.pieces.slice(0, n).forEach((p, i) => {
    tokens[i] = p.piece;
    scores[i] = p.score;
    types[i] =
      p.type === SpType.UNKNOWN
        ? TokenType.UNKNOWN
        : p.type === SpType.CONTROL
          ? TokenType.CONTROL
          : p.type === SpType.UNUSED
            ? TokenType.UNUSED
            : p.type === SpType.BYTE
              ? TokenType.BYTE
              : TokenType.NORMAL;
  });
  const id = (x: number) => (x >= 0 && x < n ? x : undefined);
  const meta: TokenizerMetadata = {
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.pre": "default",
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.scores": scores,
    "tokenizer.ggml.token_type": types,
    "tokenizer.ggml.bos_token_id": id(sp.bosId),
    "tokenizer.ggml.eos_token_id": id(sp.eosId),
    "tokenizer.ggml.unknown_token_id": id(sp.unkId),
    "tokenizer.ggml.padding_token_id": id(sp.padId),
  };
  if (!sp.addDummyPrefix) meta["tokenizer.ggml.add_space_prefix"] = false;
  return dropUndefined(meta);
}

/**
 * GGUF tokenizer metadata from a llama2.c tokenizer `.bin` (e.g. stories260K's tok512.bin), as llama.cpp's
 * convert-llama2c-to-ggml writes it: ids 0/1/2 become <unk> (unknown), <s> and </s> (control); empty
 * pieces are control, "<0xNN>" pieces bytes, the rest normal; spaces are written as "▁".
 * `vocabSize` is the model's vocabulary size (from the llama2.c checkpoint header).
 */
export function llama2cTokenizerToGgufMetadata(
  file: string | Uint8Array,
  vocabSize: number,
): TokenizerMetadata {
  const where = typeof file === "string" ? file : "tokenizer.bin";
  const buf = typeof file === "string" ? readFileSync(file) : file;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const need = (k: number) => {
    if (pos + k > buf.length) {
      throw new InputError(`truncated at byte ${pos} (need ${k} more bytes; vocabulary size ${vocabSize})`, {
        file: where,
      });
    }
  };
  need(4);
  pos = 4; // max_token_length, unused
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let id = 0; id < vocabSize; id++) {
    need(8);
    const score = dv.getFloat32(pos, true);
    const len = dv.getUint32(pos + 4, true);
    pos += 8;
    need(len);
    let text = new TextDecoder().decode(buf.subarray(pos, pos + len));
    pos += len;
    let type: number = TokenType.NORMAL;
    if (id === 0) [text, type] = ["<unk>", TokenType.UNKNOWN];
    else if (id === 1) [text, type] = ["<s>", TokenType.CONTROL];
    else if (id === 2) [text, type] = ["</s>", TokenType.CONTROL];
    else if (text === "") type = TokenType.CONTROL;
    else if (/^<0x[0-9A-Fa-f]{1,2}>/.test(text)) type = TokenType.BYTE;
    tokens.push(text.replaceAll(" ", "\u2581"));
    scores.push(score);
    types.push(type);
  }
  return {
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.scores": scores,
    "tokenizer.ggml.token_type": types,
    "tokenizer.ggml.unknown_token_id": 0,
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
  };
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
