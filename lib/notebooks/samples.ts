// A catalogue of the sample datasets shipped in data/ (see data/README.md): what each file holds and
// how big it is, read from the files themselves so the table cannot drift from the data.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { InputError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";

/** One sample dataset. */
export interface SampleDataset {
  /** Path relative to the data folder ("coffee-qa.jsonl", "chat-export/"). */
  name: string;
  /** "jsonl", "json", "text", "chat-export" (folder of JSON lists) or "images" (folder per class). */
  kind: "jsonl" | "json" | "text" | "chat-export" | "images";
  /** Records: JSONL lines, JSON array entries, stories (blank-line separated), messages, or images. */
  records: number;
  /** Field names of the first record (JSON kinds), or the image classes. */
  fields: string[];
  /** Total size on disk, bytes. */
  bytes: number;
  /** Absolute path. */
  path: string;
}

/** The data folder shipped with the package. */
export const SAMPLE_DATA_DIR = join(PACKAGE_ROOT, "data");

function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (sum, e) => sum + (e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size),
    0,
  );
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { file: path });
  }
}

function describeFile(path: string, name: string): SampleDataset | undefined {
  const text = readFileSync(path, "utf8");
  const bytes = statSync(path).size;
  switch (extname(name)) {
    case ".jsonl": {
      const lines = text.split("\n").filter((l) => l.trim() !== "");
      const first = lines.length ? parseJson(`${path}:1`, lines[0]!) : {};
      return {
        name,
        kind: "jsonl",
        records: lines.length,
        fields: Object.keys(first as object),
        bytes,
        path,
      };
    }
    case ".json": {
      const value = parseJson(path, text);
      const list = Array.isArray(value) ? value : [value];
      const first = list[0] && typeof list[0] === "object" ? (list[0] as object) : {};
      return { name, kind: "json", records: list.length, fields: Object.keys(first), bytes, path };
    }
    case ".txt": {
      const stories = text.split(/\n\s*\n/).filter((s) => s.trim() !== "");
      return { name, kind: "text", records: stories.length, fields: [], bytes, path };
    }
    default:
      return undefined; // README.md and anything else is not a dataset
  }
}

/** Folders of data/ that hold no raw sample dataset: the embedded model and the prepared splits. */
const NOT_SAMPLES = new Set(["default-model", "prepared"]);

function describeFolder(dir: string, name: string): SampleDataset | undefined {
  if (NOT_SAMPLES.has(name)) return undefined;
  const entries = readdirSync(dir, { withFileTypes: true });
  const classes = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  if (classes.length > 0) {
    const images = classes.reduce(
      (n, c) => n + readdirSync(join(dir, c)).filter((f) => /\.(png|jpe?g|webp)$/i.test(f)).length,
      0,
    );
    return {
      name: name + "/",
      kind: "images",
      records: images,
      fields: classes,
      bytes: folderBytes(dir),
      path: dir,
    };
  }
  const jsonFiles = entries
    .filter((e) => e.isFile() && e.name.endsWith(".json"))
    .map((e) => e.name)
    .sort();
  if (jsonFiles.length === 0) return undefined;
  let messages = 0;
  const fields = new Set<string>();
  for (const f of jsonFiles) {
    const value = parseJson(join(dir, f), readFileSync(join(dir, f), "utf8"));
    if (!Array.isArray(value))
      throw new InputError("expected a JSON array of messages", { file: join(dir, f) });
    messages += value.length;
    for (const m of value) if (m && typeof m === "object") for (const k of Object.keys(m)) fields.add(k);
  }
  return {
    name: name + "/",
    kind: "chat-export",
    records: messages,
    fields: [...fields],
    bytes: folderBytes(dir),
    path: dir,
  };
}

/** Lists the datasets in `dataDir` (default: the package's data/), sorted by name. */
export function listSampleDatasets(dataDir: string = SAMPLE_DATA_DIR): SampleDataset[] {
  const out: SampleDataset[] = [];
  for (const e of readdirSync(dataDir, { withFileTypes: true })) {
    const path = join(dataDir, e.name);
    const d = e.isDirectory() ? describeFolder(path, e.name) : describeFile(path, e.name);
    if (d) out.push(d);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
