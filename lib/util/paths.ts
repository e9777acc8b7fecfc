import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (the folder holding package.json), found from this file in lib/ or dist/. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** ../shared beside the project (read-only data and models for tests and benchmarks), or undefined. */
export function sharedDir(): string | undefined {
  const candidates = [process.env.TUNEKIT_SHARED, join(PACKAGE_ROOT, "..", "shared")];
  return candidates.find((p): p is string => !!p && existsSync(p));
}
