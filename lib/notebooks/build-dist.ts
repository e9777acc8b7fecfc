// Notebook cells import the compiled library from ../dist (tslab compiles cells with its own
// TypeScript and cannot import lib/*.ts). Before notebooks run, dist/ must be at least as new as lib/.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { TunekitError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/**
 * lib/ sources whose dist/ JavaScript is missing or older than the source. `editedBefore` (ms since the
 * epoch) leaves out sources changed after that moment (edited while a build was running).
 */
export function staleDistFiles(root: string = PACKAGE_ROOT, editedBefore = Infinity): string[] {
  const lib = join(root, "lib");
  if (!existsSync(lib)) return []; // an installed package ships dist/ only
  return tsFiles(lib).filter((src) => {
    const js = join(root, "dist", relative(lib, src)).replace(/\.ts$/, ".js");
    const srcTime = statSync(src).mtimeMs;
    return srcTime < editedBefore && (!existsSync(js) || statSync(js).mtimeMs < srcTime);
  });
}

/** What {@link ensureDistBuilt} did. */
export interface DistBuildStatus {
  /** True when tsc ran. */
  built: boolean;
  /** Sources that were newer than their build output. */
  stale: string[];
  /** Seconds tsc took (0 when it did not run). */
  seconds: number;
  /** tsc's type errors when it reported some but still wrote every file (tsc emits despite type errors). */
  typeErrors?: string;
}

/** Runs `tsc -p tsconfig.build.json` when some lib/ source is newer than dist/ (as `npm run build` does). */
export function ensureDistBuilt(root: string = PACKAGE_ROOT): DistBuildStatus {
  const stale = staleDistFiles(root).map((f) => relative(root, f));
  if (stale.length === 0) return { built: false, stale, seconds: 0 };
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  if (!existsSync(tsc))
    throw new TunekitError(
      `dist/ is older than lib/ (${stale[0]} …) and TypeScript is not installed to rebuild it`,
    );
  const t0 = performance.now();
  const startedAt = Date.now();
  const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
    cwd: root,
    encoding: "utf8",
  });
  const seconds = (performance.now() - t0) / 1000;
  const output = (r.stdout + r.stderr).trim().slice(0, 4000);
  if (r.status === 0) return { built: true, stale, seconds };
  // Type errors do not stop tsc from writing JavaScript; `npm test` reports them. Fail only when
  // output is still missing or old.
  if (staleDistFiles(root, startedAt).length > 0)
    throw new TunekitError(`building dist/ failed (npm run build):\n${output}`);
  return { built: true, stale, seconds, typeErrors: output };
}
