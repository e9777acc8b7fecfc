// `hub pull`: download a model or dataset repository (or the files matching --include) into the
// standard Hugging Face cache (blobs/ + snapshots/<commit>/ + refs/<revision>, shared with Python's
// huggingface_hub) with @huggingface/hub. HF_HUB_OFFLINE=1 resolves from the cache only.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  datasetInfo,
  downloadFileToCacheDir,
  getHFHubCachePath,
  getRepoFolderName,
  listFiles,
  modelInfo,
  snapshotDownload,
} from "@huggingface/hub";
import { mkdirSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic.js";
import { TunekitError } from "../util/errors.js";
import {
  hubError,
  hubToken,
  hubUrl,
  matchesAny,
  offlineFromEnv,
  parseRepo,
  quietly,
  type HubRepoType,
} from "./common.js";

/** Options of {@link hubPull}. */
export interface HubPullOptions {
  /** "owner/name" (or "datasets/owner/name"). */
  repo: string;
  /** "model" (default) or "dataset". */
  repoType?: HubRepoType;
  /** Branch, tag or commit. Default "main". */
  revision?: string;
  /** Only files matching one of these globs (e.g. "*.gguf", "tokenizer*", "data/**"). */
  include?: string[];
  /** Cache folder. Default: HF_HUB_CACHE / HF_HOME/hub / ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Hub URL. Default: HF_ENDPOINT or https://huggingface.co. */
  hubUrl?: string;
  /** Access token. Default: HF_TOKEN. Never printed. */
  token?: string;
  /** Use the cache only. Default: HF_HUB_OFFLINE. */
  offline?: boolean;
}

/** Result of {@link hubPull}. */
export interface HubPullResult {
  repo: string;
  repoType: HubRepoType;
  revision: string;
  /** Commit the revision resolved to. */
  commit: string;
  /** snapshots/<commit> folder holding the files (symlinks into blobs/). */
  snapshotPath: string;
  /** Files pulled (repo paths) with their sizes. */
  files: Array<{ path: string; bytes: number }>;
  offline: boolean;
}

const COMMIT = /^[0-9a-f]{40}$/;

function listSnapshot(root: string, prefix = ""): Array<{ path: string; bytes: number }> {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .flatMap((name) => {
      const full = join(root, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const st = statSync(full); // follows the symlinks into blobs/
      return st.isDirectory() ? listSnapshot(full, rel) : [{ path: rel, bytes: st.size }];
    });
}

/** Pulls a repository (or part of it) into the cache; returns where the files are. */
export async function hubPull(o: HubPullOptions): Promise<HubPullResult> {
  const repo = parseRepo(o.repo, o.repoType);
  const revision = o.revision ?? "main";
  const cacheDir = o.cacheDir ?? getHFHubCachePath();
  const storage = join(cacheDir, getRepoFolderName(repo));
  const offline = o.offline ?? offlineFromEnv();
  const include = o.include?.filter(Boolean) ?? [];
  const pick = (files: Array<{ path: string; bytes: number }>) =>
    include.length ? files.filter((f) => matchesAny(f.path, include)) : files;
  const base = { repo: repo.name, repoType: repo.type, revision, offline };

  if (offline) {
    let commit = COMMIT.test(revision) ? revision : undefined;
    const ref = join(storage, "refs", revision);
    if (!commit && existsSync(ref)) commit = readFileSync(ref, "utf8").trim();
    const snapshotPath = commit ? join(storage, "snapshots", commit) : "";
    if (!commit || !existsSync(snapshotPath))
      throw new TunekitError(
        `${repo.type} ${repo.name}@${revision} is not in the cache ${cacheDir} (offline mode: HF_HUB_OFFLINE=1)`,
      );
    const files = pick(listSnapshot(snapshotPath));
    if (include.length && files.length === 0)
      throw new TunekitError(`no cached file of ${repo.name}@${revision} matches ${include.join(", ")}`);
    return { ...base, commit, snapshotPath, files };
  }

  const token = hubToken(o.token);
  const url = hubUrl(o.hubUrl);
  const credentials = token ? { accessToken: token } : {};
  try {
    if (include.length === 0) {
      const snapshotPath = await quietly(() =>
        snapshotDownload({ repo, revision, cacheDir, hubUrl: url, ...credentials }),
      );
      const commit = snapshotPath.split(/[\\/]/).pop()!;
      return { ...base, commit, snapshotPath, files: listSnapshot(snapshotPath) };
    }
    const info = await (repo.type === "dataset"
      ? datasetInfo({ name: repo.name, revision, hubUrl: url, additionalFields: ["sha"], ...credentials })
      : modelInfo({ name: repo.name, revision, hubUrl: url, additionalFields: ["sha"], ...credentials }));
    const commit = (info as { sha?: string }).sha;
    if (!commit) throw new TunekitError(`the hub did not tell which commit ${revision} is`);
    if (revision !== commit) {
      mkdirSync(join(storage, "refs"), { recursive: true });
      writeFileAtomic(join(storage, "refs", revision), commit);
    }
    const wanted: Array<{ path: string; bytes: number }> = [];
    for await (const entry of listFiles({
      repo,
      revision: commit,
      recursive: true,
      hubUrl: url,
      ...credentials,
    }))
      if (entry.type === "file" && matchesAny(entry.path, include))
        wanted.push({ path: entry.path, bytes: entry.size });
    if (wanted.length === 0)
      throw new TunekitError(`no file of ${repo.name}@${revision} matches ${include.join(", ")}`);
    await quietly(async () => {
      for (const f of wanted)
        await downloadFileToCacheDir({
          repo,
          path: f.path,
          revision: commit,
          cacheDir,
          hubUrl: url,
          ...credentials,
        });
    });
    return { ...base, commit, snapshotPath: join(storage, "snapshots", commit), files: wanted };
  } catch (err) {
    if (err instanceof TunekitError) throw err;
    throw hubError(`cannot pull ${repo.type} ${repo.name}@${revision}`, err, token);
  }
}
