/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend the BOS token when the model's vocabulary says so (`tokenizer.ggml.add_bos_token`). Default false. */
  addBos?: boolean;
  /** Recognise special/control tokens written as text (e.g. "<|im_start|>") and emit their ids. Default false. */
  parseSpecial?: boolean;
}

/** A text tokenizer whose ids equal llama.cpp's for the same model and text. */
export interface Tokenizer {
  /** Number of tokens in the vocabulary. */
  readonly vocabSize: number;
  /** Begin-of-sequence id, if the vocabulary has one. */
  readonly bos?: number;
  /** End-of-sequence id, if any. */
  readonly eos?: number;
  /** End-of-turn id (e.g. <|im_end|>, <end_of_turn>, <|eot_id|>), if any. */
  readonly eot?: number;
  /** Padding id, if any. */
  readonly pad?: number;
  /** Whether the model expects BOS at the start of a prompt. */
  readonly addBos: boolean;
  /** Text to token ids. */
  encode(text: string, options?: EncodeOptions): number[];
  /** Token ids back to text (special tokens rendered as their text). */
  decode(ids: readonly number[]): string;
  /** The piece (raw vocabulary string) of one token. */
  tokenText(id: number): string;
  /** Whether the id is a control/special token (it ends generation or structures a chat). */
  isSpecial(id: number): boolean;
}
