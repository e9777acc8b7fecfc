// Finds labelled images in a dataset folder, in the three layouts users have:
//   COCO JSON (Roboflow "coco" export: <split>/_annotations.coco.json), CSV labels (a file column plus a
//   label column, or Roboflow "multiclass" one-hot columns), or one folder per class (optionally under
//   train/valid/test split folders, as Roboflow's "folder" export).
// Every image path is checked to exist and to stay inside the dataset folder.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import { InputError } from "../../util/errors.js";
import type { RowIssues } from "../issues.js";
import { parseCsv } from "../read/csv.js";
import { parseJsonLocated } from "../read/json-located.js";
import { insideFolder } from "../verify.js";
import { findKey } from "../formats/fields.js";

/** Image file extensions recognised in folders. */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"];
const SPLIT_FOLDERS = new Set(["train", "valid", "validation", "val", "test"]);

/** One labelled image. */
export interface LabeledImage {
  /** Absolute image path (inside the dataset folder). */
  path: string;
  /** Class label; several labels of one image are sorted and joined with ", ". */
  label: string;
  /** The file that gave the label (CSV/JSON) or the image itself (folder layout). */
  file: string;
  /** Line in that file, when it has lines. */
  line?: number;
}

/** Which layout was found. */
export type ImageLayout = "coco" | "csv" | "folders";

/** Reads the labelled images of `root` (the layout is detected: COCO, then CSV, then folders). */
export function findLabeledImages(root: string, issues: RowIssues): { layout: ImageLayout; images: LabeledImage[] } {
  const dir = resolve(root);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError("expected a folder of images", { file: root });
  const candidates = [dir, ...subfolders(dir).filter((d) => SPLIT_FOLDERS.has(lower(d))).map((d) => join(dir, d))];
  const coco = candidates.flatMap((d) => readdirSync(d).filter((f) => /\.json$/i.test(f)).map((f) => join(d, f))).filter(isCoco);
  if (coco.length) return { layout: "coco", images: coco.flatMap((f) => readCoco(f, dir, issues)) };
  const csv = candidates.flatMap((d) => readdirSync(d).filter((f) => /\.(csv|tsv)$/i.test(f)).map((f) => join(d, f)));
  if (csv.length) return { layout: "csv", images: csv.flatMap((f) => readCsvLabels(f, dir, issues)) };
  const images = readClassFolders(dir, issues);
  if (images.length === 0) throw new InputError("no labelled images: expected COCO JSON, a labels CSV or one folder per class", { file: root });
  return { layout: "folders", images };
}

const lower = (s: string) => s.toLowerCase();
const subfolders = (d: string) => readdirSync(d).filter((n) => !n.startsWith(".") && statSync(join(d, n)).isDirectory()).sort();

function isCoco(file: string): boolean {
  if (/_annotations\.coco\.json$/i.test(file)) return true;
  const head = readFileSync(file, "utf8").slice(0, 200000);
  return head.includes('"images"') && head.includes('"annotations"') && head.includes('"categories"');
}

/** Resolves an image reference from a labels file; errors name the labels file and line. */
function imagePath(ref: string, labelsFile: string, root: string, where: { file: string; line?: number; field?: string }): string {
  const base = dirname(labelsFile);
  const tries = [resolve(base, ref), resolve(base, "images", ref), resolve(root, ref)];
  for (const p of tries) if (!insideFolder(root, p)) throw new InputError(`image path "${ref}" leaves the dataset folder`, where);
  const found = tries.find((p) => existsSync(p));
  if (!found) throw new InputError(`image file "${ref}" not found next to the labels file`, where);
  return found;
}

function readCsvLabels(file: string, root: string, issues: RowIssues): LabeledImage[] {
  const { header, rows } = parseCsv(readFileSync(file, "utf8"), file, issues);
  const fileCol = findKey(header, ["file", "filename", "file_name", "image", "image_path", "path", "img", "archivo", "imagen"]);
  if (!fileCol) throw new InputError(`no image-file column (columns: ${header.join(", ")})`, { file, line: 1 });
  const labelCol = findKey(header, ["label", "class", "category", "labels", "clase", "etiqueta", "categoria", "categoría"]);
  const oneHot = labelCol ? [] : header.filter((h) => h !== fileCol);
  const out: LabeledImage[] = [];
  for (const r of rows) {
    const img = issues.row((): LabeledImage => {
      const ref = r.values[fileCol]!.trim();
      const where = { file, line: r.line, field: fileCol };
      if (!ref) throw new InputError("empty", where);
      let label: string;
      if (labelCol) {
        label = r.values[labelCol]!.trim();
        if (!label) throw new InputError("empty", { file, line: r.line, field: labelCol });
      } else {
        const bad = oneHot.find((h) => !/^\s*[01]\s*$/.test(r.values[h]!));
        if (bad) throw new InputError(`expected 0 or 1 (one-hot class columns)`, { file, line: r.line, field: bad });
        const set = oneHot.filter((h) => r.values[h]!.trim() === "1");
        if (set.length === 0) throw new InputError("no class column is 1", { file, line: r.line });
        label = set.sort().join(", ");
      }
      return { path: imagePath(ref, file, root, where), label, file, line: r.line };
    });
    if (img) out.push(img);
  }
  return out;
}

function readCoco(file: string, root: string, issues: RowIssues): LabeledImage[] {
  const { value, lineOf } = parseJsonLocated(readFileSync(file, "utf8"), file);
  const o = value as { images?: unknown; annotations?: unknown; categories?: unknown };
  for (const k of ["images", "annotations", "categories"] as const)
    if (!Array.isArray(o?.[k])) throw new InputError(`COCO file needs an "${k}" array`, { file, line: 1, field: k });
  const cats = new Map<number, string>();
  for (const c of o.categories as Array<{ id?: unknown; name?: unknown }>) {
    if (typeof c?.id !== "number" || typeof c.name !== "string") throw new InputError("a category needs a numeric id and a name", { file, line: lineOf(c) });
    cats.set(c.id, c.name);
  }
  const labels = new Map<number, Set<string>>();
  for (const a of o.annotations as Array<{ image_id?: unknown; category_id?: unknown }>) {
    const where = { file, line: lineOf(a) };
    if (typeof a?.image_id !== "number" || typeof a.category_id !== "number") {
      issues.bad("an annotation needs numeric image_id and category_id", where);
      continue;
    }
    const name = cats.get(a.category_id);
    if (name === undefined) {
      issues.bad(`unknown category_id ${a.category_id}`, where);
      continue;
    }
    let set = labels.get(a.image_id);
    if (!set) labels.set(a.image_id, (set = new Set()));
    set.add(name);
  }
  const out: LabeledImage[] = [];
  for (const im of o.images as Array<{ id?: unknown; file_name?: unknown }>) {
    const line = lineOf(im);
    const img = issues.row((): LabeledImage | undefined => {
      if (typeof im?.id !== "number" || typeof im.file_name !== "string")
        throw new InputError("an image needs a numeric id and a file_name", { file, line });
      const set = labels.get(im.id);
      if (!set || set.size === 0) {
        issues.drop(`image "${im.file_name}" has no annotations`, { file, line });
        return undefined;
      }
      return { path: imagePath(im.file_name, file, root, { file, line, field: "file_name" }), label: [...set].sort().join(", "), file, line };
    });
    if (img) out.push(img);
  }
  return out;
}

function readClassFolders(root: string, issues: RowIssues): LabeledImage[] {
  const out: LabeledImage[] = [];
  const scan = (dir: string) => {
    for (const cls of subfolders(dir)) {
      const cdir = join(dir, cls);
      if (dir === root && SPLIT_FOLDERS.has(lower(cls))) {
        scan(cdir);
        continue;
      }
      for (const f of readdirSync(cdir).sort()) {
        const p = join(cdir, f);
        if (IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()) && statSync(p).isFile()) out.push({ path: p, label: cls, file: p });
        else if (statSync(p).isDirectory()) issues.drop(`nested folder "${f}" inside class "${cls}" is ignored`, { file: p });
      }
    }
  };
  scan(root);
  return out;
}
