// Regenerates notebooks/NN-name.ipynb from notebooks/src/NN-name.ts (see lib/notebooks/source.ts for
// the source format). With --check it writes nothing and exits 1 when a notebook is out of date.
// Usage: npx tsx scripts/build-notebooks.ts [--check]
import { parseArgs } from "node:util";
import { orphanNotebooks, planNotebookBuilds, writeNotebookBuilds } from "../lib/notebooks/build.js";

const { values } = parseArgs({ options: { check: { type: "boolean", default: false } } });
const builds = planNotebookBuilds();
const stale = builds.filter((b) => !b.upToDate).map((b) => b.name);
const orphans = orphanNotebooks();
if (orphans.length)
  process.stderr.write(`notebooks without a source in notebooks/src: ${orphans.join(", ")}\n`);
if (values.check) {
  if (stale.length)
    process.stderr.write(`out of date: ${stale.join(", ")} (run: npx tsx scripts/build-notebooks.ts)\n`);
  else process.stdout.write(`${builds.length} notebooks up to date\n`);
  process.exit(stale.length || orphans.length ? 1 : 0);
}
const written = writeNotebookBuilds(builds);
process.stdout.write(
  written.length
    ? `wrote ${written.map((n) => `notebooks/${n}.ipynb`).join(", ")}\n`
    : `${builds.length} notebooks up to date\n`,
);
if (orphans.length) process.exit(1);
