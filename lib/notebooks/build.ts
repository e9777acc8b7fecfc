// Generates notebooks/NN-name.ipynb from notebooks/src/NN-name.ts and checks that the committed
// notebooks match their sources (scripts/build-notebooks.ts and test/notebooks are the callers).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { PACKAGE_ROOT } from "../util/paths.js";
import { buildNotebook, parseNotebookSource } from "./source.js";

/** One notebook and its source. */
export interface NotebookBuild {
  /** "01-setup". */
  name: string;
  /** Absolute paths of the source and the generated notebook. */
  sourcePath: string;
  notebookPath: string;
  /** The .ipynb text the source generates. */
  expected: string;
  /** Whether the notebook on disk already holds exactly `expected`. */
  upToDate: boolean;
}

/** Source files are named like "01-setup.ts": two digits, a dash, a name. */
const SOURCE_NAME = /^(\d\d-[a-z0-9-]+)\.ts$/;

/** Plans the build of every notebooks/src/NN-name.ts under `root` (default: the package root), in order. */
export function planNotebookBuilds(root: string = PACKAGE_ROOT): NotebookBuild[] {
  const srcDir = join(root, "notebooks", "src");
  if (!existsSync(srcDir)) return [];
  return readdirSync(srcDir)
    .filter((f) => SOURCE_NAME.test(f))
    .sort()
    .map((file) => {
      const name = SOURCE_NAME.exec(file)![1]!;
      const sourcePath = join(srcDir, file);
      const notebookPath = join(root, "notebooks", `${name}.ipynb`);
      const cells = parseNotebookSource(readFileSync(sourcePath, "utf8"), `notebooks/src/${file}`);
      const expected = buildNotebook(cells, { name, sourcePath: `notebooks/src/${file}` });
      const upToDate = existsSync(notebookPath) && readFileSync(notebookPath, "utf8") === expected;
      return { name, sourcePath, notebookPath, expected, upToDate };
    });
}

/** Notebooks in notebooks/ that no source generates (someone edited or added an .ipynb by hand). */
export function orphanNotebooks(root: string = PACKAGE_ROOT): string[] {
  const dir = join(root, "notebooks");
  if (!existsSync(dir)) return [];
  const built = new Set(planNotebookBuilds(root).map((b) => basename(b.notebookPath)));
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb") && !built.has(f))
    .sort();
}

/** Writes every notebook that is not up to date; returns the names written. */
export function writeNotebookBuilds(builds: NotebookBuild[]): string[] {
  const written: string[] = [];
  for (const b of builds) {
    if (b.upToDate) continue;
    writeFileAtomic(b.notebookPath, b.expected);
    written.push(b.name);
  }
  return written;
}
