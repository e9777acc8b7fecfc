// A local stand-in for the Hugging Face Hub on 127.0.0.1 speaking the subset of its HTTP API that
// @huggingface/hub's pull/push functions use (read from node_modules/@huggingface/hub):
//   GET  /api/{models|datasets}/{owner}/{name}/revision/{rev}      modelInfo/datasetInfo (sha, siblings)
//   GET  /api/{models|datasets}/{owner}/{name}                     repoExists
//   GET  /api/{models|datasets}/{owner}/{name}/tree/{rev}[/{path}] listFiles (recursive, Link paging not used)
//   POST /api/{models|datasets}/{owner}/{name}/paths-info/{rev}    pathsInfo (lfs, lastCommit)
//   GET|HEAD /[datasets/]{owner}/{name}/resolve/{rev}/{path}        file download with Range, ETag, X-Repo-Commit
//   POST /api/repos/create                                          createRepo
//   POST /api/{models|datasets}/{owner}/{name}/preupload/{rev}     regular vs lfs upload mode
//   POST /[datasets/]{owner}/{name}.git/info/lfs/objects/batch     LFS batch ("basic" transfer)
//   PUT  /lfs-upload/{sha256}                                       LFS object upload (hash checked)
//   POST /api/{models|datasets}/{owner}/{name}/commit/{rev}        NDJSON commit (file, lfsFile, deletedFile)
// Writes need `Authorization: Bearer <token>`; private repos need it for reads too. Every request is
// recorded so tests can check what was sent. Reusable by any test that needs a hub (data layer too).
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A file in a commit. */
export interface MockHubFile {
  content: Buffer;
  /** Stored through LFS (oid = sha256) rather than as a regular git blob. */
  lfs: boolean;
}

/** A commit: the full file tree at that point. */
export interface MockHubCommit {
  oid: string;
  title: string;
  date: string;
  files: Map<string, MockHubFile>;
}

/** A repository. */
export interface MockHubRepo {
  type: "model" | "dataset";
  name: string;
  private: boolean;
  branches: Map<string, string>;
  commits: Map<string, MockHubCommit>;
}

/** One recorded request. */
export interface MockHubRequest {
  method: string;
  path: string;
  /** The Authorization header carried the server's token. */
  authorized: boolean;
  /** Some Authorization header was present. */
  hadAuthorization: boolean;
}

/** Options of {@link startMockHubServer}. */
export interface MockHubOptions {
  /** The token that grants access. Default "hf_mocktoken". */
  token?: string;
  /** Files at least this large are uploaded through LFS. Default 1024 bytes (the real hub: 10 MB or binary). */
  lfsThreshold?: number;
}

/** The running mock. */
export interface MockHubServer {
  /** Base URL, to pass as hubUrl / HF_ENDPOINT. */
  url: string;
  token: string;
  repos: Map<string, MockHubRepo>;
  requests: MockHubRequest[];
  /** Adds a repository with one commit on "main"; returns the commit id. */
  addRepo(
    type: "model" | "dataset",
    name: string,
    files: Record<string, string | Uint8Array>,
    options?: { private?: boolean; lfs?: string[] },
  ): string;
  /** The files at a branch or commit. */
  filesAt(type: "model" | "dataset", name: string, revision?: string): Map<string, MockHubFile> | undefined;
  close(): Promise<void>;
}

const sha1 = (b: Buffer | string) => createHash("sha1").update(b).digest("hex");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const gitBlobOid = (b: Buffer) => sha1(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]));
const key = (type: string, name: string) => `${type}:${name}`;

/** Starts the mock hub on 127.0.0.1 (a free port). */
export async function startMockHubServer(options: MockHubOptions = {}): Promise<MockHubServer> {
  const token = options.token ?? "hf_mocktoken";
  const lfsThreshold = options.lfsThreshold ?? 1024;
  const repos = new Map<string, MockHubRepo>();
  const lfsObjects = new Map<string, Buffer>();
  const requests: MockHubRequest[] = [];
  let baseUrl = "";

  const newCommit = (title: string, files: Map<string, MockHubFile>): MockHubCommit => ({
    oid: sha1(randomBytes(16)),
    title,
    date: new Date().toISOString(),
    files,
  });

  function resolveCommit(repo: MockHubRepo, rev: string): MockHubCommit | undefined {
    const oid = repo.branches.get(rev) ?? rev;
    return repo.commits.get(oid);
  }

  function fileOid(f: MockHubFile): string {
    return f.lfs ? sha256(f.content) : gitBlobOid(f.content);
  }

  function entry(path: string, f: MockHubFile, commit: MockHubCommit, withCommit: boolean) {
    return {
      type: "file",
      path,
      oid: gitBlobOid(
        f.lfs
          ? Buffer.from(
              `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(f.content)}\nsize ${f.content.length}\n`,
            )
          : f.content,
      ),
      size: f.content.length,
      ...(f.lfs ? { lfs: { oid: sha256(f.content), size: f.content.length, pointerSize: 134 } } : {}),
      ...(withCommit ? { lastCommit: { id: commit.oid, title: commit.title, date: commit.date } } : {}),
    };
  }

  function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  function error(res: ServerResponse, status: number, message: string, code?: string) {
    json(res, status, { error: message }, code ? { "x-error-code": code } : {});
  }

  async function body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", "http://mock");
    const path = decodeURIComponent(u.pathname);
    const auth = req.headers.authorization;
    const authorized = auth === `Bearer ${token}`;
    requests.push({ method: req.method ?? "", path, authorized, hadAuthorization: !!auth });
    if (auth && !authorized) return error(res, 401, "Invalid credentials in Authorization header");
    const needAuth = () => {
      if (!authorized) {
        error(res, 401, "Authorization needed");
        return true;
      }
      return false;
    };
    const canRead = (repo: MockHubRepo) => !repo.private || authorized;
    let m: RegExpExecArray | null;

    if (req.method === "POST" && path === "/api/repos/create") {
      if (needAuth()) return;
      const b = JSON.parse((await body(req)).toString()) as {
        name: string;
        organization: string;
        type: "model" | "dataset";
        private?: boolean;
        visibility?: string;
      };
      const name = `${b.organization}/${b.name}`;
      const type = b.type ?? "model";
      if (repos.has(key(type, name))) return error(res, 409, "You already created this repo");
      const first = newCommit(
        "initial commit",
        new Map([
          [
            ".gitattributes",
            { content: Buffer.from("*.gguf filter=lfs diff=lfs merge=lfs -text\n"), lfs: false },
          ],
        ]),
      );
      repos.set(key(type, name), {
        type,
        name,
        private: b.private ?? b.visibility === "private",
        branches: new Map([["main", first.oid]]),
        commits: new Map([[first.oid, first]]),
      });
      return json(res, 200, {
        url: `${baseUrl}/${type === "dataset" ? "datasets/" : ""}${name}`,
        id: sha1(name),
      });
    }

    if ((m = /^\/lfs-upload\/([0-9a-f]{64})$/.exec(path)) && req.method === "PUT") {
      const data = await body(req);
      if (sha256(data) !== m[1]) return error(res, 400, "sha256 mismatch");
      lfsObjects.set(m[1], data);
      res.writeHead(200, { etag: `"${m[1]}"` });
      return void res.end();
    }

    if (
      (m = /^\/(datasets\/)?([\w.-]+\/[\w.-]+)\.git\/info\/lfs\/objects\/batch$/.exec(path)) &&
      req.method === "POST"
    ) {
      if (needAuth()) return;
      const repo = repos.get(key(m[1] ? "dataset" : "model", m[2]));
      if (!repo) return error(res, 404, "Repository not found", "RepoNotFound");
      const b = JSON.parse((await body(req)).toString()) as { objects: Array<{ oid: string; size: number }> };
      return json(res, 200, {
        transfer: "basic",
        objects: b.objects.map((o) => ({
          oid: o.oid,
          size: o.size,
          authenticated: true,
          ...(lfsObjects.has(o.oid)
            ? {}
            : {
                actions: {
                  upload: { href: `${baseUrl}/lfs-upload/${o.oid}`, expires_at: "2099-01-01T00:00:00Z" },
                },
              }),
        })),
      });
    }

    if (
      (m = /^\/(datasets\/)?([\w.-]+\/[\w.-]+)\/resolve\/([^/]+)\/(.+)$/.exec(path)) &&
      (req.method === "GET" || req.method === "HEAD")
    ) {
      const repo = repos.get(key(m[1] ? "dataset" : "model", m[2]));
      if (!repo || !canRead(repo))
        return error(res, repo ? 401 : 404, "Repository not found", "RepoNotFound");
      const commit = resolveCommit(repo, m[3]);
      if (!commit) return error(res, 404, "Revision not found", "RevisionNotFound");
      const f = commit.files.get(m[4]);
      if (!f) return error(res, 404, "Entry not found", "EntryNotFound");
      const headers: Record<string, string> = {
        etag: `"${fileOid(f)}"`,
        "x-repo-commit": commit.oid,
        "accept-ranges": "bytes",
        "content-type": "application/octet-stream",
        ...(f.lfs
          ? { "x-linked-etag": `"${sha256(f.content)}"`, "x-linked-size": String(f.content.length) }
          : {}),
      };
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), f.content.length - 1) : f.content.length - 1;
        const part = f.content.subarray(start, end + 1);
        res.writeHead(206, {
          ...headers,
          "content-range": `bytes ${start}-${end}/${f.content.length}`,
          "content-length": part.length,
        });
        return void res.end(req.method === "HEAD" ? undefined : part);
      }
      res.writeHead(200, { ...headers, "content-length": f.content.length });
      return void res.end(req.method === "HEAD" ? undefined : f.content);
    }

    if (
      !(m =
        /^\/api\/(models|datasets)\/([\w.-]+\/[\w.-]+)(?:\/(revision|tree|paths-info|preupload|commit)\/([^/]+)(?:\/(.*))?)?$/.exec(
          path,
        ))
    )
      return error(res, 404, `mock hub: no route ${req.method} ${path}`);
    const type = m[1] === "datasets" ? "dataset" : "model";
    const name = m[2];
    const op = m[3];
    const rev = m[4];
    const repo = repos.get(key(type, name));
    if (!repo || (!canRead(repo) && op !== "commit" && op !== "preupload"))
      return error(res, repo ? 401 : 404, "Repository not found", "RepoNotFound");

    if (!op && req.method === "GET")
      return json(res, 200, { id: name, _id: sha1(name), private: repo.private, likes: 0 });

    if (op === "revision" && req.method === "GET") {
      const commit = resolveCommit(repo, rev);
      if (!commit) return error(res, 404, "Revision not found", "RevisionNotFound");
      return json(res, 200, {
        _id: sha1(name),
        id: name,
        sha: commit.oid,
        private: repo.private,
        gated: false,
        downloads: 0,
        likes: 0,
        lastModified: commit.date,
        siblings: [...commit.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }

    if (op === "tree" && req.method === "GET") {
      const commit = resolveCommit(repo, rev);
      if (!commit) return error(res, 404, "Revision not found", "RevisionNotFound");
      const prefix = m[5] ? `${m[5].replace(/\/$/, "")}/` : "";
      const recursive = u.searchParams.get("recursive") === "true";
      const out: unknown[] = [];
      const dirs = new Set<string>();
      for (const [p, f] of [...commit.files].sort(([a], [b]) => a.localeCompare(b))) {
        if (!p.startsWith(prefix)) continue;
        const rest = p.slice(prefix.length).split("/");
        for (let d = 1; d < rest.length && (recursive || d === 1); d++)
          dirs.add(prefix + rest.slice(0, d).join("/"));
        if (recursive || rest.length === 1) out.push(entry(p, f, commit, false));
      }
      for (const d of dirs) out.unshift({ type: "directory", path: d, oid: sha1(d), size: 0 });
      return json(res, 200, out);
    }

    if (op === "paths-info" && req.method === "POST") {
      const commit = resolveCommit(repo, rev);
      if (!commit) return error(res, 404, "Revision not found", "RevisionNotFound");
      const b = JSON.parse((await body(req)).toString()) as { paths: string[]; expand?: boolean };
      return json(
        res,
        200,
        b.paths
          .filter((p) => commit.files.has(p))
          .map((p) => entry(p, commit.files.get(p)!, commit, !!b.expand)),
      );
    }

    if (op === "preupload" && req.method === "POST") {
      if (needAuth()) return;
      const b = JSON.parse((await body(req)).toString()) as {
        files: Array<{ path: string; size: number; sample: string }>;
      };
      return json(res, 200, {
        files: b.files.map((f) => ({
          path: f.path,
          uploadMode:
            f.size >= lfsThreshold || Buffer.from(f.sample, "base64").includes(0) ? "lfs" : "regular",
          shouldIgnore: false,
        })),
      });
    }

    if (op === "commit" && req.method === "POST") {
      if (needAuth()) return;
      const lines = (await body(req))
        .toString()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { key: string; value: Record<string, unknown> });
      const head = repo.branches.get(rev);
      if (!head) return error(res, 404, "Revision not found", "RevisionNotFound");
      const files = new Map(repo.commits.get(head)!.files);
      let title = "commit";
      for (const { key: k, value: v } of lines) {
        if (k === "header") title = String(v.summary ?? title);
        else if (k === "file")
          files.set(String(v.path), {
            content: Buffer.from(String(v.content), v.encoding === "base64" ? "base64" : "utf8"),
            lfs: false,
          });
        else if (k === "lfsFile") {
          const data = lfsObjects.get(String(v.oid));
          if (!data) return error(res, 422, `LFS object ${String(v.oid)} was never uploaded`);
          files.set(String(v.path), { content: data, lfs: true });
        } else if (k === "deletedFile") files.delete(String(v.path));
        else return error(res, 400, `unknown commit operation ${k}`);
      }
      const commit = newCommit(title, files);
      repo.commits.set(commit.oid, commit);
      repo.branches.set(rev, commit.oid);
      return json(res, 200, {
        success: true,
        commitOid: commit.oid,
        commitUrl: `${baseUrl}/${type === "dataset" ? "datasets/" : ""}${name}/commit/${commit.oid}`,
      });
    }

    return error(res, 405, `mock hub: ${req.method} not supported on ${path}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) error(res, 500, `mock hub failure: ${err.message}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    token,
    repos,
    requests,
    addRepo(type, name, files, o = {}) {
      const map = new Map<string, MockHubFile>();
      for (const [p, c] of Object.entries(files)) {
        const content = typeof c === "string" ? Buffer.from(c) : Buffer.from(c);
        const lfs = o.lfs?.includes(p) ?? content.length >= lfsThreshold;
        if (lfs) lfsObjects.set(sha256(content), content);
        map.set(p, { content, lfs });
      }
      const commit = newCommit("initial upload", map);
      repos.set(key(type, name), {
        type,
        name,
        private: !!o.private,
        branches: new Map([["main", commit.oid]]),
        commits: new Map([[commit.oid, commit]]),
      });
      return commit.oid;
    },
    filesAt(type, name, revision = "main") {
      const repo = repos.get(key(type, name));
      return repo && resolveCommit(repo, revision)?.files;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
