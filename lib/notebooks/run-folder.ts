// The run folder through which notebooks hand results to the next one (01-setup writes setup.json,
// later notebooks read it). `tunekit notebooks run --run-dir DIR` points the kernels at another folder
// through TUNEKIT_NOTEBOOK_RUN_DIR, so tests never touch the repository's runs/.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { InputError, TunekitError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";

/** Environment variable naming the notebooks' run folder. */
export const RUN_DIR_ENV = "TUNEKIT_NOTEBOOK_RUN_DIR";

/** The notebooks' run folder: $TUNEKIT_NOTEBOOK_RUN_DIR, else <package>/runs/current. */
export function notebookRunDir(): string {
  const fromEnv = process.env[RUN_DIR_ENV];
  return fromEnv ? resolve(fromEnv) : join(PACKAGE_ROOT, "runs", "current");
}

/** Writes `value` as pretty JSON to `<run folder>/<name>` atomically and returns the path. */
export function writeRunJson(name: string, value: unknown): string {
  const path = join(notebookRunDir(), name);
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
  return path;
}

/**
 * Reads `<run folder>/<name>`. `writtenBy` names the notebook that writes it, so a missing file
 * says which notebook to run first.
 */
export function readRunJson<T>(name: string, writtenBy: string): T {
  const path = join(notebookRunDir(), name);
  if (!existsSync(path))
    throw new TunekitError(`${path} does not exist: run the notebook ${writtenBy} first`);
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { file: path });
  }
}
