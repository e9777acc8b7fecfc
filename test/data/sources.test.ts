import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import pl from "nodejs-polars";
import sharp from "sharp";
import { downloadHubDataset } from "../../lib/data/sources/hf.js";
import { downloadRoboflowExport } from "../../lib/data/sources/roboflow.js";
import { extractZip, readZip } from "../../lib/data/sources/unzip.js";
import { imagesConverter } from "../../lib/data/formats/images.js";
import { RowIssues } from "../../lib/data/issues.js";
import { prepareDataset } from "../../lib/data/prepare.js";
import { tempDir, writeTree } from "./helpers.js";

const PY = spawnSync("python3", ["-c", "import zipfile"]).status === 0 ? "python3" : undefined;

/** Zips a folder with Python's zipfile (an independent ZIP writer), deflated. */
function pyZip(folder: string, zipPath: string, extra: Record<string, string> = {}): Buffer {
  const code = `import zipfile, os, sys\nz = zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED)\nfor root, _, files in os.walk(sys.argv[1]):\n    for f in sorted(files):\n        p = os.path.join(root, f)\n        z.write(p, os.path.relpath(p, sys.argv[1]))\nfor name, text in ${JSON.stringify(extra)}.items():\n    z.writestr(name, text)\nz.close()`;
  const r = spawnSync(PY!, ["-c", code, folder, zipPath], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(zipPath);
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; close: () => Promise<void>; log: string[] }> {
  const log: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      log.push(`${req.method} ${req.url}`);
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, log, close: () => new Promise((r) => server.close(() => r())) };
}

const json = (res: ServerResponse, status: number, v: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(v));
};

/** The subset of the Hugging Face Hub API that @huggingface/hub's datasetInfo, listFiles and downloadFileToCacheDir use. */
function hubHandler(repo: string, sha: string, token: string, files: Record<string, Buffer>, base: () => string) {
  const oid = (p: string) => `oid-${Buffer.from(p).toString("hex").slice(0, 32)}`;
  return (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url!, "http://x");
    if (req.headers.authorization !== `Bearer ${token}`) return json(res, 401, { error: "Invalid credentials" });
    const api = `/api/datasets/${repo}`;
    if (url.pathname === `${api}/revision/main`) {
      assert.ok(url.searchParams.getAll("expand").includes("sha"));
      return json(res, 200, { _id: "x", id: repo, sha, private: false, downloads: 0, likes: 0, gated: false, lastModified: "2025-01-01T00:00:00.000Z" });
    }
    if (url.pathname === `${api}/tree/${sha}`) {
      assert.equal(url.searchParams.get("recursive"), "true");
      const entries = Object.keys(files).map((p) => ({ type: "file", path: p, size: files[p]!.length, oid: oid(p) }));
      const page = url.searchParams.get("cursor") === "2" ? entries.slice(2) : entries.slice(0, 2);
      const next: Record<string, string> = url.searchParams.get("cursor") === "2" ? {} : { Link: `<${base()}${api}/tree/${sha}?recursive=true&expand=false&cursor=2>; rel="next"` };
      return json(res, 200, [{ type: "directory", path: "data", size: 0, oid: "d" }, ...page], next);
    }
    if (req.method === "POST" && url.pathname === `${api}/paths-info/${sha}`) {
      const { paths } = JSON.parse(body) as { paths: string[] };
      return json(res, 200, paths.map((p) => ({ type: "file", path: p, size: files[p]!.length, oid: oid(p), lastCommit: { id: sha, title: "t", date: "2025-01-01T00:00:00.000Z" } })));
    }
    const m = new RegExp(`^/datasets/${repo}/resolve/${sha}/(.+)$`).exec(url.pathname);
    if (m && files[decodeURIComponent(m[1]!)]) {
      const data = files[decodeURIComponent(m[1]!)]!;
      const headers = { ETag: `"${oid(m[1]!)}"`, "Content-Type": "application/octet-stream" };
      if (req.headers.range === "bytes=0-0") {
        res.writeHead(206, { ...headers, "Content-Range": `bytes 0-0/${data.length}`, "Content-Length": "1" });
        return res.end(data.subarray(0, 1));
      }
      res.writeHead(200, { ...headers, "Content-Length": String(data.length) });
      return res.end(data);
    }
    res.writeHead(404, { "X-Error-Code": "EntryNotFound" });
    res.end();
  };
}

test("hf:// datasets: revision → commit, paged listing, Parquet-only download into the HF cache, rows through prepare", async () => {
  const { dir, cleanup } = tempDir();
  const sha = "0123456789abcdef0123456789abcdef01234567";
  pl.DataFrame({ preguntas: ["¿Cómo controlar la roya?", "¿Qué es la broca? ☕"], respuestas: ["Con variedades resistentes.", "Un insecto."] }).writeParquet(join(dir, "p.parquet"));
  const files = {
    "data/train-00000-of-00001.parquet": readFileSync(join(dir, "p.parquet")),
    "data/train.jsonl": Buffer.from('{"preguntas": "dup", "respuestas": "dup"}\n'),
    "README.md": Buffer.from("# coffe"),
  };
  let base = "";
  const server = await serve(hubHandler("sergioq2/coffe", sha, "hf_secret_token", files, () => base));
  base = server.url;
  const saved = process.env.HF_TOKEN;
  process.env.HF_TOKEN = "hf_secret_token";
  try {
    const ds = await downloadHubDataset("sergioq2/coffe", { hubUrl: server.url, cacheDir: join(dir, "cache") });
    assert.equal(ds.commit, sha);
    assert.deepEqual(ds.files.map((f) => f.slice(ds.dir.length + 1)), ["data/train-00000-of-00001.parquet"]);
    assert.ok(ds.dir.endsWith(join("datasets--sergioq2--coffe", "snapshots", sha)));
    assert.deepEqual(readFileSync(ds.files[0]!), files["data/train-00000-of-00001.parquet"]);
    assert.ok(server.log.some((l) => l.includes("cursor=2")), "followed the Link header to the second page");
    const r = await prepareDataset({ format: "qa", input: "hf://sergioq2/coffe", outDir: join(dir, "out"), hubUrl: server.url, hfCacheDir: join(dir, "cache"), evalFraction: 0 });
    assert.equal(r.source, `hf://sergioq2/coffe@${sha}`);
    assert.equal(r.counts.train, 2);
    assert.match(readFileSync(join(dir, "out/train.jsonl"), "utf8"), /¿Qué es la broca\? ☕/);
    process.env.HF_TOKEN = "hf_wrong_token";
    await assert.rejects(downloadHubDataset("sergioq2/coffe", { hubUrl: server.url, cacheDir: join(dir, "c2") }), (e: Error) => {
      assert.match(e.message, /cannot open dataset "sergioq2\/coffe" on the hub/);
      assert.ok(!e.message.includes("hf_wrong_token"));
      return true;
    });
  } finally {
    if (saved === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = saved;
    await server.close();
    cleanup();
  }
});

test("ZIP reader: Python-written archives extract byte-identically; escaping entries and corruption are refused", { skip: !PY && "python3 is absent" }, () => {
  const { dir, cleanup } = tempDir();
  try {
    writeTree(dir, { "src/a/b.txt": "¡Hola, café! ☕\n".repeat(50), "src/c.bin": Buffer.from([0, 1, 2, 255]) });
    const zip = pyZip(join(dir, "src"), join(dir, "x.zip"));
    const names = extractZip(zip, join(dir, "out"));
    assert.deepEqual(names.sort(), ["a/b.txt", "c.bin"]);
    assert.equal(readFileSync(join(dir, "out/a/b.txt"), "utf8"), "¡Hola, café! ☕\n".repeat(50));
    assert.deepEqual(readFileSync(join(dir, "out/c.bin")), Buffer.from([0, 1, 2, 255]));
    const evil = pyZip(join(dir, "src"), join(dir, "evil.zip"), { "../evil.txt": "x" });
    assert.throws(() => extractZip(evil, join(dir, "out2"), "evil.zip"), /entry "\.\.\/evil\.txt" would be written outside the target folder/);
    assert.equal(existsSync(join(dir, "evil.txt")) || existsSync(join(dir, "out2")), false);
    const broken = Buffer.from(zip);
    const at = broken.indexOf(Buffer.from("c.bin")) + 5; // first byte after the name in the local header region
    broken[at + 2] ^= 0xff;
    assert.throws(() => readZip(broken, "broken.zip"), /broken\.zip: not a readable ZIP/);
    assert.throws(() => readZip(Buffer.from("no zip"), "n.zip"), /no end-of-central-directory record/);
  } finally {
    cleanup();
  }
});

test("roboflow:// exports: 202 while generating, then the link; the zip becomes a COCO folder the images converter reads", { skip: !PY && "python3 is absent" }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const coco = {
      categories: [{ id: 0, name: "enfermedades", supercategory: "none" }, { id: 1, name: "roya", supercategory: "enfermedades" }, { id: 2, name: "broca", supercategory: "enfermedades" }],
      images: [{ id: 1, file_name: "h1.jpg" }, { id: 2, file_name: "h2.jpg" }],
      annotations: [{ id: 1, image_id: 1, category_id: 1 }, { id: 2, image_id: 2, category_id: 2 }],
    };
    const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 90, g: 140, b: 30 } } }).jpeg().toBuffer();
    writeTree(dir, { "export/train/_annotations.coco.json": JSON.stringify(coco), "export/train/h1.jpg": jpg, "export/train/h2.jpg": jpg, "export/README.roboflow.txt": "export" });
    const zip = pyZip(join(dir, "export"), join(dir, "export.zip"));
    let polls = 0;
    const server = await serve((req, res) => {
      const url = new URL(req.url!, "http://x");
      if (url.pathname === "/dl/export.zip") {
        res.writeHead(200, { "content-type": "application/zip" });
        return res.end(zip);
      }
      if (url.searchParams.get("api_key") !== "rf_key_123") return json(res, 401, { error: { message: "This API key does not exist (or has been revoked)." } });
      if (url.pathname === "/detection-3nbwx/coffe-mw9n0/2/coco") {
        if (polls++ === 0) return json(res, 202, { progress: 0.5 });
        return json(res, 200, { export: { link: `${server.url}/dl/export.zip`, format: "coco" } });
      }
      json(res, 404, { error: "not found" });
    });
    try {
      const progress: number[] = [];
      const out = join(dir, "rf");
      const r = await downloadRoboflowExport({ workspace: "detection-3nbwx", project: "coffe-mw9n0", version: 2, outDir: out, apiKey: "rf_key_123", apiUrl: server.url, pollMs: 10, onProgress: (p) => progress.push(p) });
      assert.deepEqual(progress, [0.5, 1]);
      assert.equal(polls, 2);
      assert.deepEqual(readdirSync(join(out, "train")).sort(), ["_annotations.coco.json", "h1.jpg", "h2.jpg"]);
      assert.deepEqual(r.files.sort(), ["README.roboflow.txt", "train/_annotations.coco.json", "train/h1.jpg", "train/h2.jpg"]);
      const recs = await imagesConverter.convert(out, { issues: new RowIssues() });
      assert.deepEqual(recs.map((x) => x.label), ["roya", "broca"]);
      assert.equal((await downloadRoboflowExport({ workspace: "detection-3nbwx", project: "coffe-mw9n0", version: 2, outDir: out, apiKey: "rf_key_123", apiUrl: server.url })).reused, true);
      await assert.rejects(
        downloadRoboflowExport({ workspace: "detection-3nbwx", project: "coffe-mw9n0", version: 2, outDir: join(dir, "rf2"), apiKey: "bad_key_999", apiUrl: server.url }),
        (e: Error) => {
          assert.match(e.message, /Roboflow refused .*\/detection-3nbwx\/coffe-mw9n0\/2\/coco \(HTTP 401\)/);
          assert.ok(!e.message.includes("bad_key_999"));
          return true;
        },
      );
      assert.equal(existsSync(join(dir, "rf2")), false);
      const saved = process.env.ROBOFLOW_API_KEY;
      delete process.env.ROBOFLOW_API_KEY;
      await assert.rejects(downloadRoboflowExport({ workspace: "w", project: "p", version: 1, outDir: join(dir, "rf3") }), /set ROBOFLOW_API_KEY/);
      if (saved !== undefined) process.env.ROBOFLOW_API_KEY = saved;
    } finally {
      await server.close();
    }
  } finally {
    cleanup();
  }
});
