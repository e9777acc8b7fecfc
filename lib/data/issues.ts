// How converters treat a bad input row: by default the first one stops the run with an error naming
// file and line; with `skipBad` each is recorded (for report.json) and the row is left out.
import { InputError, type InputLocation } from "../util/errors.js";

/** One problem found in the input, with its place. */
export interface Problem extends InputLocation {
  /** What is wrong (without the location prefix). */
  message: string;
}

/** Collects or throws bad-row errors. */
export class RowIssues {
  /** Problems recorded so far (only filled when skipping). */
  readonly skipped: Problem[] = [];
  /** Rows left out on purpose, not errors (e.g. an image without annotations), with the reason. */
  readonly dropped: Problem[] = [];

  /** @param skipBad record bad rows and continue instead of throwing. */
  constructor(readonly skipBad = false) {}

  /** Reports a bad row: throws an {@link InputError} unless skipping. */
  bad(message: string, where: InputLocation): void {
    if (!this.skipBad) throw new InputError(message, where);
    this.skipped.push({ ...where, message });
  }

  /** Records a row left out on purpose (never an error). */
  drop(message: string, where: InputLocation): void {
    this.dropped.push({ ...where, message });
  }

  /** Runs `fn` for one row; an InputError it throws becomes a bad row (rethrown unless skipping). */
  row<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (err instanceof InputError && this.skipBad) {
        const { file, line, field } = err.location;
        this.skipped.push({ file, line, field, message: stripLocation(err) });
        return undefined;
      }
      throw err;
    }
  }
}

/** The message of an InputError without the "file:line, field …: " prefix InputError adds. */
export function stripLocation(err: InputError): string {
  const { file, line, field } = err.location;
  const parts: string[] = [];
  if (file) parts.push(line !== undefined ? `${file}:${line}` : file);
  else if (line !== undefined) parts.push(`line ${line}`);
  if (field) parts.push(`field "${field}"`);
  const prefix = parts.length ? parts.join(", ") + ": " : "";
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}
