/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend the BOS token when the model's vocabulary says so (`tokenizer.ggml.add_bos_token`). Default false. */
  addBos?: boolean;
  /** Recognise special/control tokens written as text (e.g. "<|im_start|>") and emit their ids. Default false. */
  parseSpecial?: boolean;
  /** Append the EOS token when the model's vocabulary says so (`tokenizer.ggml.add_eos_token`). Default false. */
  addEos?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Render control tokens (BOS, <|im_end|>, …) as their text; false drops them. Default true. */
  renderSpecial?: boolean;
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
  /** Unknown-token id, if any. */
  readonly unk?: number;
  /** Whether the model expects EOS at the end of a prompt (`tokenizer.ggml.add_eos_token`). */
  readonly addEos?: boolean;
  /** The model's chat template (`tokenizer.chat_template`), if the metadata has one. */
  readonly chatTemplate?: string;
  /** Token ids back to text (special tokens rendered as their text unless options say otherwise). */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** The piece (raw vocabulary string) of one token. */
  tokenText(id: number): string;
  /** Whether the id is a control/special token (it ends generation or structures a chat). */
  isSpecial(id: number): boolean;
  /** Whether generation stops at this id (EOS, EOT and llama.cpp's other end-of-generation tokens). */
  isEog?(id: number): boolean;
}
