import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";

/** A temporary sibling path of `target`, on the same file system so that rename is atomic. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Writes a file through a temporary sibling and renames it into place, so that a reader (or a crash)
 * never sees a half-written file. `write` receives the temporary path.
 */
export async function writeAtomically(target: string, write: (tmpPath: string) => Promise<void> | void) {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    await write(tmp);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true, recursive: true });
    throw err;
  }
}

/** Synchronous whole-buffer variant of {@link writeAtomically}. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Builds a whole folder at a temporary sibling path and renames it into place at the end;
 * an existing folder at `target` is replaced only after the new one is complete.
 */
export async function writeDirAtomically(target: string, build: (tmpDir: string) => Promise<void> | void) {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    if (existsSync(target)) {
      const old = tempPathFor(target);
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, target);
    }
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
