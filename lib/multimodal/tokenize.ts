// Image records → token ids with image slots, as llama.cpp's mtmd lays them out: every image part of a
// message becomes the media marker text before the chat template runs (as llama.cpp's server does with
// image_url parts); the rendered text is split at the markers, each text piece is tokenized on its own, and
// each marker becomes <begin text> + one slot per soft token + <end text> (Gemma 3: "<start_of_image>",
// 256 slots, "<end_of_image>"; the begin/end strings are tokenized with special tokens parsed).
// Loss mask: assistant turns only by default (as lib/data/tokenize.ts), never the image slots.
import type { Tokenizer } from "../tokenizer/types.js";
import { TunekitError } from "../util/errors.js";
import { assistantTurns, type DroppedRecord, type RenderFn } from "../data/tokenize.js";
import type { ChatRecord, RecordContentPart, RecordMessage } from "../data/record.js";

/** llama.cpp's default media marker (mtmd_default_marker()). */
export const MEDIA_MARKER = "<__media__>";

/** How one image appears in the token sequence. */
export interface ImageTokenSpec {
  /** Text before the soft tokens (Gemma 3: "<start_of_image>"; "" for none). */
  begin: string;
  /** Text after them (Gemma 3: "<end_of_image>"). */
  end: string;
  /** Soft tokens per image (the encoder's output length: 256 for Gemma 3, (S/p/merge)² in general). */
  tokensPerImage: number;
  /** Token id written into slot columns (its embedding is replaced; Gemma 3n reads its per-layer row). Default 0. */
  slotId?: number;
}

/** Options of {@link tokenizeImageRecord}. */
export interface ImageTokenizeOptions {
  tokenizer: Tokenizer;
  /** The model's chat template as a render function. */
  render: RenderFn;
  image: ImageTokenSpec;
  /** "assistant" (default): loss on assistant turns; "all": on every text token after the first. */
  trainOn?: "assistant" | "all";
  /** Longest sequence; a longer record is dropped (cutting through an image would break it). */
  maxSeq?: number;
}

/** An image reference of a record, in order of appearance. */
export interface ImageRef {
  /** Path as written in the record (relative to the JSONL file's folder) or URL. */
  path?: string;
  url?: string;
}

/** A tokenized image record. */
export interface ImageTokenizedRecord {
  ids: number[];
  /** 1 where ids[i] is a training target. */
  mask: Array<0 | 1>;
  /** Where each image's slots are: first column and count, with the image it stands for. */
  images: Array<{ column: number; count: number; ref: ImageRef }>;
  /** The rendered text (with markers). */
  text: string;
}

/** The record with every image part replaced by a text part holding the media marker; the images in order. */
export function withMediaMarkers(record: ChatRecord): { record: ChatRecord; images: ImageRef[] } {
  const images: ImageRef[] = [];
  const messages = record.messages.map((m): RecordMessage => {
    if (!Array.isArray(m.content)) return m;
    const content = m.content.map((p): RecordContentPart => {
      if (p.type === "image") images.push({ path: p.path, url: p.url });
      else if (p.type === "image_url") images.push({ url: p.image_url.url });
      else return p;
      return { type: "text", text: MEDIA_MARKER };
    });
    return { ...m, content };
  });
  return { record: { ...record, messages }, images };
}

/** Tokenizes one record with images; a record longer than maxSeq is returned as dropped. */
export function tokenizeImageRecord(
  source: ChatRecord,
  o: ImageTokenizeOptions,
): ImageTokenizedRecord | DroppedRecord {
  if (source.text !== undefined && source.messages.length === 0)
    throw new TunekitError("a raw-text record has no images: train it with the text path");
  const { record, images } = withMediaMarkers(source);
  const text = o.render(record.messages, { addGenerationPrompt: false, tools: record.tools });
  // Character spans that are trained.
  const spans: Array<[number, number]> =
    o.trainOn === "all" ? [[0, text.length]] : assistantTurns(record, text, o.render).map((t) => t.span);
  const { ids, mask, images: out } = layoutImageText(text, images, o, spans);
  if (mask.length) mask[0] = 0;
  if (o.maxSeq !== undefined && ids.length > o.maxSeq)
    return {
      dropped: true,
      reason: `longer than max-seq (${ids.length} > ${o.maxSeq} tokens)`,
      length: ids.length,
    };
  return { ids, mask, images: out, text };
}

/**
 * The token layout of a rendered text with media markers: pieces tokenized alone (BOS first when the model
 * wants it and the text does not start with it), image begin text, slots, end text. `spans` (character
 * spans of `text`) mark trained tokens.
 */
export function layoutImageText(
  text: string,
  images: readonly ImageRef[],
  o: { tokenizer: Tokenizer; image: ImageTokenSpec },
  spans: ReadonlyArray<[number, number]> = [],
): Pick<ImageTokenizedRecord, "ids" | "mask" | "images"> {
  const { tokenizer } = o;
  const pieces = text.split(MEDIA_MARKER);
  if (pieces.length - 1 !== images.length)
    throw new TunekitError(
      `the chat template rendered ${pieces.length - 1} image markers for ${images.length} images (does it drop message parts?)`,
    );
  const encode = (t: string) => (t ? tokenizer.encode(t, { parseSpecial: true, addBos: false }) : []);
  const ids: number[] = [];
  const mask: Array<0 | 1> = [];
  const out: ImageTokenizedRecord["images"] = [];
  if (
    tokenizer.addBos &&
    tokenizer.bos !== undefined &&
    !text.startsWith(tokenizer.tokenText(tokenizer.bos))
  ) {
    ids.push(tokenizer.bos);
    mask.push(0);
  }
  let at = 0; // character offset of the current piece in `text`
  pieces.forEach((piece, k) => {
    const pieceIds = encode(piece);
    // a token is trained when it holds a character of a trained span: find span edges by token prefixes
    const trained = new Array<0 | 1>(pieceIds.length).fill(0);
    for (const [a, b] of spans) {
      const lo = Math.max(a, at) - at;
      const hi = Math.min(b, at + piece.length) - at;
      if (hi <= lo) continue;
      const first = tokensCovering(piece.slice(0, lo), pieceIds, encode, "floor");
      const last = tokensCovering(piece.slice(0, hi), pieceIds, encode, "ceil");
      for (let i = first; i < last; i++) trained[i] = 1;
    }
    ids.push(...pieceIds);
    mask.push(...trained);
    at += piece.length;
    if (k < images.length) {
      const spec = o.image;
      const begin = encode(spec.begin);
      ids.push(...begin);
      mask.push(...begin.map((): 0 => 0));
      out.push({ column: ids.length, count: spec.tokensPerImage, ref: images[k]! });
      for (let i = 0; i < spec.tokensPerImage; i++) {
        ids.push(spec.slotId ?? 0);
        mask.push(0);
      }
      const end = encode(spec.end);
      ids.push(...end);
      mask.push(...end.map((): 0 => 0));
      at += MEDIA_MARKER.length;
    }
  });
  return { ids, mask, images: out };
}

/** A prompt (conversation up to the answer) with the generation prompt, laid out for inference. */
export function imagePromptTokens(
  messages: RecordMessage[],
  o: { tokenizer: Tokenizer; render: RenderFn; image: ImageTokenSpec; tools?: ChatRecord["tools"] },
): { ids: number[]; images: ImageTokenizedRecord["images"]; text: string } {
  const { record, images } = withMediaMarkers({ messages, tools: o.tools });
  const text = o.render(record.messages, { addGenerationPrompt: true, tools: o.tools });
  const { ids, images: placed } = layoutImageText(text, images, o);
  return { ids, images: placed, text };
}

/**
 * How many of `ids` (the tokens of a whole piece) the prefix `prefix` occupies: the length of the common
 * token prefix, plus one when a token straddles the edge and `round` is "ceil" (that token is trained).
 */
function tokensCovering(
  prefix: string,
  ids: number[],
  encode: (t: string) => number[],
  round: "floor" | "ceil",
): number {
  if (!prefix) return 0;
  const p = encode(prefix);
  let l = 0;
  while (l < p.length && l < ids.length && p[l] === ids[l]) l++;
  if (l === p.length || round === "floor") return l;
  return Math.min(l + 1, ids.length);
}
