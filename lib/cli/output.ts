import { TunekitError } from "../util/errors.js";

/** Options every command takes. */
export interface CommonOptions {
  json?: boolean;
}

/**
 * Prints a command's result: the JSON value with --json (one document on stdout, nothing else),
 * otherwise the human rendering.
 */
export function emit<T>(result: T, opts: CommonOptions, human: (r: T) => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(result, jsonReplacer) + "\n");
  else process.stdout.write(human(result) + "\n");
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

/** Wraps a command action: user errors print one clear line and exit 1; anything else keeps its stack. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof TunekitError) {
        process.stderr.write(`tunekit: ${err.message}\n`);
        process.exitCode = 1;
      } else throw err;
    }
  };
}

/** Parses a numeric CLI option, naming the flag when it is not a number. */
export function num(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new TunekitError(`${flag} expects a number, got "${value}"`);
    return n;
  };
}
