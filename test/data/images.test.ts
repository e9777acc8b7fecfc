import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pl from "nodejs-polars";
import sharp from "sharp";
import { imagesConverter } from "../../lib/data/formats/images.js";
import { RowIssues } from "../../lib/data/issues.js";
import { classBalance } from "../../lib/data/stats.js";
import { shared, tempDir, writeTree } from "./helpers.js";

const png = (r: number, g: number, b: number, w = 8, h = 8) => sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } }).png().toBuffer();
const conv = (dir: string, extra = {}) => imagesConverter.convert(dir, { issues: new RowIssues(), ...extra });

test("images: the shared coffee-leaf folder converts with its 5 labels from labels.csv", { skip: !shared && "../shared is absent" }, async () => {
  const root = join(shared!, "data/images/coffee-leaf");
  const csv = pl.readCSV(join(root, "labels.csv"));
  const want = (csv.getColumn("label").toArray() as string[]).slice().sort();
  const out = await conv(root, { imageQuestion: "¿Qué enfermedad tiene esta hoja de café?", labelText: { rust: "Roya del café" } });
  assert.equal(out.length, 100);
  assert.deepEqual(out.map((o) => o.label!).sort(), want);
  assert.deepEqual(classBalance(out.map((o) => o.label)).map((b) => [b.label, b.count]), [
    ["brown_leaf_spot_phoma", 20],
    ["cercospora_leaf_spot", 20],
    ["healthy", 20],
    ["leaf_miner", 20],
    ["rust", 20],
  ]);
  for (const o of out) {
    const [user, assistant] = o.record.messages;
    const parts = user!.content as Array<{ type: string; path?: string; text?: string }>;
    assert.ok(existsSync(parts[0]!.path!));
    assert.equal(parts[1]!.text, "¿Qué enfermedad tiene esta hoja de café?");
    assert.equal(assistant!.content, o.label === "rust" ? "Roya del café" : o.label);
  }
  // Each record's image is the one labels.csv names on that line.
  const files = csv.getColumn("file").toArray() as string[];
  out.forEach((o) => assert.ok(((o.record.messages[0]!.content as Array<{ path?: string }>)[0]!.path!).endsWith("/" + files[o.origin.line! - 2])));
});

test("images: folder per class with Roboflow split folders", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "train/roya/a.png": await png(200, 90, 20), "train/sana/b.png": await png(20, 160, 40), "valid/roya/c.jpg": await png(1, 2, 3), "README.roboflow.txt": "x" });
    const out = await conv(dir);
    assert.deepEqual(out.map((o) => [o.label, o.record.messages[1]!.content]), [["roya", "roya"], ["sana", "sana"], ["roya", "roya"]]);
  } finally {
    cleanup();
  }
});

test("images: COCO JSON (Roboflow export) with several labels per image and unannotated images", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const coco = {
      categories: [
        { id: 0, name: "hojas-cafe", supercategory: "none" },
        { id: 1, name: "roya", supercategory: "hojas-cafe" },
        { id: 2, name: "broca", supercategory: "hojas-cafe" },
      ],
      images: [
        { id: 10, file_name: "x1.jpg" },
        { id: 11, file_name: "x2.jpg" },
        { id: 12, file_name: "x3.jpg" },
      ],
      annotations: [
        { id: 1, image_id: 10, category_id: 1 },
        { id: 2, image_id: 11, category_id: 2 },
        { id: 3, image_id: 11, category_id: 1 },
      ],
    };
    writeTree(dir, { "train/_annotations.coco.json": JSON.stringify(coco, null, 2), "train/x1.jpg": await png(9, 9, 9), "train/x2.jpg": await png(8, 8, 8), "train/x3.jpg": await png(7, 7, 7) });
    const issues = new RowIssues();
    const out = await imagesConverter.convert(dir, { issues });
    assert.deepEqual(out.map((o) => o.label), ["roya", "broca, roya"]);
    assert.deepEqual(issues.dropped.map((d) => d.message), ['image "x3.jpg" has no annotations']);
    writeTree(dir, { "train/_annotations.coco.json": JSON.stringify({ ...coco, annotations: [{ image_id: 10, category_id: 99 }] }, null, 2) });
    await assert.rejects(conv(dir), /_annotations\.coco\.json:34: unknown category_id 99/);
  } finally {
    cleanup();
  }
});

test("images: one-hot CSV (Roboflow multiclass), and labels that escape the folder or name missing files", async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "train/_classes.csv": "filename, roya, sana\na.png,1,0\nb.png,0,1\n", "train/a.png": await png(1, 1, 1), "train/b.png": await png(2, 2, 2) });
    assert.deepEqual((await conv(dir)).map((o) => o.label), ["roya", "sana"]);
    writeTree(dir, { "train/_classes.csv": "filename,roya\na.png,2\n" });
    await assert.rejects(conv(dir), /_classes\.csv:2, field "roya": expected 0 or 1/);
    const other = tempDir();
    try {
      writeTree(other.dir, { "ds/labels.csv": "file,label\nok.png,sana\n../../etc/passwd,roya\nfalta.png,roya\n", "ds/ok.png": await png(3, 3, 3) });
      await assert.rejects(conv(join(other.dir, "ds")), /labels\.csv:3, field "file": image path "\.\.\/\.\.\/etc\/passwd" leaves the dataset folder/);
      const issues = new RowIssues(true);
      const out = await imagesConverter.convert(join(other.dir, "ds"), { issues });
      assert.equal(out.length, 1);
      assert.deepEqual(issues.skipped.map((p) => [p.line, p.message]), [
        [3, 'image path "../../etc/passwd" leaves the dataset folder'],
        [4, 'image file "falta.png" not found next to the labels file'],
      ]);
    } finally {
      other.cleanup();
    }
    const empty = tempDir();
    try {
      await assert.rejects(conv(empty.dir), /no labelled images/);
    } finally {
      empty.cleanup();
    }
  } finally {
    cleanup();
  }
});
