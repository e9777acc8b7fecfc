// Answering a conversation that holds images with tunekit's own engine: the prompt is laid out as
// llama.cpp's mtmd does (see tokenize.ts), the encoder's soft tokens go into the prompt's KV-cache pass,
// then greedy decoding until an end-of-generation token.
import { dirname, isAbsolute, resolve } from "node:path";
import type { RecordMessage } from "../data/record.js";
import type { RenderFn } from "../data/tokenize.js";
import { InputError } from "../util/errors.js";
import { plainLinear, type LinearFn } from "../models/decoder.js";
import type { Model } from "../models/model.js";
import { Session } from "../models/session.js";
import type { ImageEncoder } from "./encoder.js";
import { imagePromptTokens, type ImageRef } from "./tokenize.js";

/** Options of {@link answerWithImages}. */
export interface ImageAnswerOptions {
  /** The model's chat template as a render function. */
  render: RenderFn;
  /** Folder that relative image paths are relative to (the JSONL file's folder). Default: cwd. */
  baseDir?: string;
  /** Most new tokens. Default 32. */
  maxTokens?: number;
  /** Linear hook of the language model (LoRA). */
  linear?: LinearFn;
  /** Linear hook of the vision encoder (vision LoRA). */
  visionLinear?: LinearFn;
}

/** Where an image reference points: a file path (relative to baseDir) or a data: URL's bytes. */
export function imageInput(ref: ImageRef, baseDir = process.cwd()): string | Uint8Array {
  if (ref.path) return isAbsolute(ref.path) ? ref.path : resolve(baseDir, ref.path);
  const url = ref.url ?? "";
  const m = /^data:[^,]*;base64,(.*)$/s.exec(url);
  if (m) return Buffer.from(m[1]!, "base64");
  if (url.startsWith("file://")) return new URL(url).pathname;
  if (url && !/^[a-z]+:/i.test(url)) return resolve(baseDir, url);
  throw new InputError(`image "${url.slice(0, 60)}" is neither a file nor a data: URL (download it first)`);
}

/** Greedy answer of `model` to `messages` (the prompt, images included). */
export async function answerWithImages(
  model: Model,
  encoder: ImageEncoder,
  messages: RecordMessage[],
  o: ImageAnswerOptions,
): Promise<{ text: string; tokens: number[]; promptTokens: number }> {
  const tok = model.tokenizer;
  const prompt = imagePromptTokens(messages, { tokenizer: tok, render: o.render, image: encoder.image });
  const pixels = await Promise.all(prompt.images.map((im) => encoder.pixels(imageInput(im.ref, o.baseDir))));
  const maxTokens = o.maxTokens ?? 32;
  const session = new Session(model, prompt.ids.length + maxTokens, o.linear ?? plainLinear);
  try {
    let logits: Float32Array;
    if (pixels.length) {
      const all = new Float32Array(pixels.length * encoder.pixelsPerImage);
      pixels.forEach((p, i) => all.set(p, i * encoder.pixelsPerImage));
      const embeddings = encoder.encode(all, o.visionLinear);
      const spans = prompt.images.map((im, k) => ({
        column: im.column,
        count: im.count,
        firstRow: k * im.count,
      }));
      logits = session.eval(prompt.ids, { embeddings, spans, bidirectional: encoder.bidirectional });
    } else logits = session.eval(prompt.ids);
    const out: number[] = [];
    for (let i = 0; i < maxTokens; i++) {
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
      if (tok.isEog ? tok.isEog(best) : best === tok.eos || best === tok.eot) break;
      out.push(best);
      if (i + 1 < maxTokens) logits = session.eval([best]);
    }
    return { text: tok.decode(out, { renderSpecial: false }), tokens: out, promptTokens: prompt.ids.length };
  } finally {
    session.dispose();
  }
}

/** The folder relative image paths of a JSONL file are relative to. */
export const jsonlBaseDir = (file: string) => dirname(resolve(file));
