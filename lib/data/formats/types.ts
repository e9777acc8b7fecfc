// The converter contract: one small module per input format (formats/<name>.ts), each turning a file
// or folder into canonical chat records.
import type { ToolSchema } from "../../chat/types.js";
import type { RowIssues } from "../issues.js";
import type { SourcedRecord } from "../record.js";

/** Options shared by the converters; each reads only the fields that concern it. */
export interface ConvertOptions {
  /** Bad rows: error (default) or skip-and-record (`--skip-bad`). */
  issues: RowIssues;
  /** System prompt prepended to every record. */
  system?: string;
  /** chat-export: `instruct` (user → next reply pairs, default) or `conversational`. */
  mode?: "instruct" | "conversational";
  /** chat-export conversational: sliding-window length in turns (default 8). */
  window?: number;
  /** function-calling: tool schemas to attach (`--tools tools.json`) instead of inferring them. */
  tools?: ToolSchema[];
  /** qa: name of the question column (auto-detected when absent). */
  questionColumn?: string;
  /** qa: name of the answer column (auto-detected when absent). */
  answerColumn?: string;
  /** images: the user's question about each image. */
  imageQuestion?: string;
  /** images: answer text per class label (default: the label itself). */
  labelText?: Record<string, string>;
  /** text: largest chunk of a .txt file in characters (default 2000); paragraphs are kept whole when possible. */
  chunkChars?: number;
}

/** A converted record plus facts the pipeline uses but does not write (class label for images). */
export interface ConvertedRecord extends SourcedRecord {
  /** Class label of an image record (for balance tables and per-class augmentation). */
  label?: string;
}

/** One input format. */
export interface Converter {
  /** `--format` name. */
  name: string;
  /** One line for `--help`. */
  description: string;
  /** Reads `input` (file or folder) and converts every row. */
  convert(input: string, options: ConvertOptions): Promise<ConvertedRecord[]>;
}
