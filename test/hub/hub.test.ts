// hub pull/push with @huggingface/hub against the local mock hub (test/helpers/mock-hub-server.ts):
// the standard cache layout, --include, offline mode, private repos, LFS uploads, the generated model
// card, a push → pull round trip, and the token never appearing in output.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";
import { hubPull } from "../../lib/hub/pull.js";
import { hubPush } from "../../lib/hub/push.js";
import { buildModelCard } from "../../lib/hub/model-card.js";
import { globToRegExp, matchesAny } from "../../lib/hub/common.js";
import { startMockHubServer, type MockHubServer } from "../helpers/mock-hub-server.js";

let hub: MockHubServer;
const tmp = mkdtempSync(join(tmpdir(), "tunekit-hub-"));
const gguf = Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(4000, 7)]);
let commit = "";

before(async () => {
  hub = await startMockHubServer({ token: "hf_secret_token_123" });
  commit = hub.addRepo("model", "ana/tiny-model", {
    "config.json": '{"model_type":"llama"}',
    "tokenizer.json": '{"version":"1.0"}',
    "model.gguf": gguf,
    "sub/notes.txt": "hola",
  });
  hub.addRepo("dataset", "ana/coffee", { "data/train.jsonl": '{"preguntas":"¿?","respuestas":"sí"}\n' });
  hub.addRepo("model", "ana/private-model", { "weights.txt": "secret" }, { private: true });
});
after(() => hub.close());

const gitOid = (b: Buffer) =>
  createHash("sha1")
    .update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]))
    .digest("hex");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("globs", () => {
  assert.ok(globToRegExp("*.gguf").test("model.gguf"));
  assert.ok(!globToRegExp("*.gguf").test("sub/model.gguf"));
  assert.ok(globToRegExp("data/**").test("data/a/b.jsonl"));
  assert.ok(globToRegExp("**/*.json").test("config.json"));
  assert.ok(globToRegExp("{a,b}.txt").test("b.txt"));
  assert.ok(matchesAny("sub/model.gguf", ["*.gguf"]));
  assert.ok(!matchesAny("config.json", ["*.gguf"]));
});

test("pull a whole repo into the standard Hugging Face cache layout", async () => {
  const cacheDir = join(tmp, "cache1");
  const r = await hubPull({ repo: "ana/tiny-model", cacheDir, hubUrl: hub.url });
  const storage = join(cacheDir, "models--ana--tiny-model");
  assert.equal(r.commit, commit);
  assert.equal(r.snapshotPath, join(storage, "snapshots", commit));
  assert.equal(readFileSync(join(storage, "refs", "main"), "utf8"), commit);
  assert.deepEqual(
    r.files.map((f) => f.path),
    ["config.json", "model.gguf", "sub/notes.txt", "tokenizer.json"],
  );
  assert.deepEqual(readFileSync(join(r.snapshotPath, "model.gguf")), gguf);
  assert.equal(readFileSync(join(r.snapshotPath, "sub/notes.txt"), "utf8"), "hola");
  // snapshot entries are symlinks to blobs named by their etag: sha256 for LFS files, the git blob id otherwise
  assert.ok(lstatSync(join(r.snapshotPath, "model.gguf")).isSymbolicLink());
  assert.ok(existsSync(join(storage, "blobs", sha256(gguf))));
  assert.ok(existsSync(join(storage, "blobs", gitOid(Buffer.from('{"model_type":"llama"}')))));
  assert.match(readlinkSync(join(r.snapshotPath, "config.json")), /blobs/);
});

test("--include pulls only the matching files; offline mode reads the cache only", async () => {
  const cacheDir = join(tmp, "cache2");
  const r = await hubPull({ repo: "ana/tiny-model", cacheDir, hubUrl: hub.url, include: ["*.json"] });
  assert.deepEqual(r.files.map((f) => f.path).sort(), ["config.json", "tokenizer.json"]);
  assert.ok(!existsSync(join(r.snapshotPath, "model.gguf")));
  const before = hub.requests.length;
  const off = await hubPull({
    repo: "ana/tiny-model",
    cacheDir,
    hubUrl: "http://127.0.0.1:9",
    offline: true,
    include: ["config.json"],
  });
  assert.equal(hub.requests.length, before, "offline mode must not contact the hub");
  assert.equal(off.commit, commit);
  assert.deepEqual(
    off.files.map((f) => f.path),
    ["config.json"],
  );
  process.env.HF_HUB_OFFLINE = "1";
  try {
    await assert.rejects(
      hubPull({ repo: "ana/never-pulled", cacheDir, hubUrl: hub.url }),
      /not in the cache/,
    );
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
});

test("datasets and private repos; a bad token is never echoed", async () => {
  const cacheDir = join(tmp, "cache3");
  const d = await hubPull({ repo: "ana/coffee", repoType: "dataset", cacheDir, hubUrl: hub.url });
  assert.match(d.snapshotPath, /datasets--ana--coffee/);
  assert.equal(readFileSync(join(d.snapshotPath, "data/train.jsonl"), "utf8").includes("preguntas"), true);
  await assert.rejects(hubPull({ repo: "ana/private-model", cacheDir, hubUrl: hub.url, token: "" }), /401/);
  const bad = "hf_wrong_but_secret_999";
  await assert.rejects(
    hubPull({ repo: "ana/private-model", cacheDir, hubUrl: hub.url, token: bad }),
    (err: Error) => !err.message.includes(bad),
  );
  const ok = await hubPull({ repo: "ana/private-model", cacheDir, hubUrl: hub.url, token: hub.token });
  assert.equal(readFileSync(join(ok.snapshotPath, "weights.txt"), "utf8"), "secret");
});

test("push creates the repo, uploads large files through LFS, writes a model card; pull gets the same bytes", async () => {
  const run = join(tmp, "run");
  mkdirSync(join(run, "checkpoints"), { recursive: true });
  writeFileSync(
    join(run, "config.json"),
    JSON.stringify({ model: "Qwen/Qwen3-1.7B", loraR: 16, loraAlpha: 32, lr: 0.0002, epochs: 3 }),
  );
  writeFileSync(
    join(run, "metrics.jsonl"),
    [
      { step: 1, loss: 2.5, tokens_per_s: 900 },
      { step: 2, loss: 1.9, tokens_per_s: 1000 },
      { step: 2, eval_loss: 2.1 },
      { step: 3, loss: 1.2, tokens_per_s: 1100 },
    ]
      .map((r) => JSON.stringify(r))
      .join("\n") + "\n",
  );
  const adapter = Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(5000, 1)]);
  writeFileSync(join(run, "adapter.gguf"), adapter);
  writeFileSync(join(run, "checkpoints", "step-3.txt"), "ckpt");
  const firstRequest = hub.requests.length;
  const r = await hubPush({ dir: run, repo: "ana/my-lora", hubUrl: hub.url, token: hub.token });
  assert.equal(r.created, true);
  assert.equal(r.modelCard, true);
  const repo = hub.repos.get("model:ana/my-lora")!;
  assert.equal(repo.private, true);
  assert.equal(r.commit, repo.branches.get("main"));
  const files = hub.filesAt("model", "ana/my-lora")!;
  assert.deepEqual(files.get("adapter.gguf")!.content, adapter);
  assert.equal(files.get("adapter.gguf")!.lfs, true);
  assert.equal(files.get("config.json")!.lfs, false);
  assert.equal(files.get("checkpoints/step-3.txt")!.content.toString(), "ckpt");
  const card = files.get("README.md")!.content.toString();
  assert.match(card, /^---\nbase_model: Qwen\/Qwen3-1\.7B\n/);
  assert.match(card, /\| loraR \| 16 \|/);
  assert.match(card, /\| last training loss \| 1\.2 \|/);
  assert.match(card, /\| best eval loss \| 2\.1 \(step 2\) \|/);
  const writes = hub.requests.slice(firstRequest).filter((q) => q.method === "POST");
  assert.ok(writes.length >= 4 && writes.every((q) => q.authorized), "every write carries the token");
  // a second push to the existing repo makes a new commit
  writeFileSync(join(run, "notes.md"), "v2");
  const again = await hubPush({
    dir: run,
    repo: "ana/my-lora",
    hubUrl: hub.url,
    token: hub.token,
    include: ["notes.md"],
  });
  assert.equal(again.created, false);
  assert.notEqual(again.commit, r.commit);
  // round trip
  const pulled = await hubPull({
    repo: "ana/my-lora",
    cacheDir: join(tmp, "cache4"),
    hubUrl: hub.url,
    token: hub.token,
  });
  assert.deepEqual(readFileSync(join(pulled.snapshotPath, "adapter.gguf")), adapter);
  assert.equal(readFileSync(join(pulled.snapshotPath, "notes.md"), "utf8"), "v2");
  assert.equal(readFileSync(join(pulled.snapshotPath, "README.md"), "utf8"), card);
  await assert.rejects(hubPush({ dir: run, repo: "ana/x", hubUrl: hub.url, token: "" }), /HF_TOKEN/);
});

test("model card without a run folder", () => {
  const card = buildModelCard({
    repo: "ana/q4",
    files: [{ path: "model-Q4_K_M.gguf", bytes: 2_700_000_000 }],
  });
  assert.match(card, /library_name: gguf/);
  assert.match(card, /llama-cli -m model-Q4_K_M\.gguf/);
  assert.doesNotMatch(card, /base_model/);
});

test("the CLI pushes and pulls with HF_TOKEN without printing it", async () => {
  const dir = join(tmp, "cli-upload");
  mkdirSync(dir);
  writeFileSync(join(dir, "model.gguf"), gguf);
  const env = {
    ...process.env,
    HF_TOKEN: hub.token,
    HF_ENDPOINT: hub.url,
    HF_HUB_CACHE: join(tmp, "cache-cli"),
  };
  // Asynchronous spawn: the mock hub lives in this process and must keep answering.
  const cli = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", join(PACKAGE_ROOT, "lib/cli/main.ts"), ...args],
        { env },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
  const push = await cli("hub", "push", dir, "--repo", "ana/cli-model", "--json");
  assert.equal(push.status, 0, push.stderr);
  const pull = await cli("hub", "pull", "ana/cli-model", "--include", "*.gguf", "--json");
  assert.equal(pull.status, 0, pull.stderr);
  for (const out of [push.stdout, push.stderr, pull.stdout, pull.stderr])
    assert.ok(!out.includes(hub.token), "token printed");
  assert.equal((JSON.parse(push.stdout) as { created: boolean }).created, true);
  const pulled = JSON.parse(pull.stdout) as { files: Array<{ path: string }>; snapshotPath: string };
  assert.deepEqual(
    pulled.files.map((f) => f.path),
    ["model.gguf"],
  );
  assert.deepEqual(readFileSync(join(pulled.snapshotPath, "model.gguf")), gguf);
});
