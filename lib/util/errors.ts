/** Base class of every error tunekit throws on purpose: the message is meant for the user as is. */
export class TunekitError extends Error {
  override name = "TunekitError";
}

/** Where in the user's input a problem was found. Every field is optional; fill in what is known. */
export interface InputLocation {
  file?: string;
  line?: number;
  field?: string;
}

/** Bad user input (a file, a row, a config field). The message names the place. */
export class InputError extends TunekitError {
  override name = "InputError";
  constructor(
    message: string,
    readonly location: InputLocation = {},
  ) {
    super(formatLocation(location) + message);
  }
}

function formatLocation({ file, line, field }: InputLocation): string {
  const parts: string[] = [];
  if (file) parts.push(line !== undefined ? `${file}:${line}` : file);
  else if (line !== undefined) parts.push(`line ${line}`);
  if (field) parts.push(`field "${field}"`);
  return parts.length ? parts.join(", ") + ": " : "";
}

/** An operation the engine refuses before it reaches ggml (which would abort the process). */
export class EngineError extends TunekitError {
  override name = "EngineError";
}
