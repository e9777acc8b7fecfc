// Hugging Face dataset repositories as a data source: the revision is resolved to a commit, the data
// files (Parquet, JSONL, JSON, CSV) are listed and downloaded into the standard Hugging Face cache
// (shared with Python's huggingface_hub) through @huggingface/hub, and the readers take them from the
// snapshot folder. The token comes from HF_TOKEN (or the option) and is never printed.
import { extname, join } from "node:path";
import { datasetInfo, downloadFileToCacheDir, listFiles } from "@huggingface/hub";
import { TunekitError } from "../../util/errors.js";
import { TABLE_EXTENSIONS } from "../read/rows.js";

/** Options of {@link downloadHubDataset}. */
export interface HubDatasetOptions {
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Hub endpoint (default https://huggingface.co; tests point it at a local server). */
  hubUrl?: string;
  /** Cache folder (default: the Hugging Face cache, HF_HUB_CACHE / ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Access token (default: the HF_TOKEN environment variable). */
  token?: string;
  /** Keep only files whose repository path contains this text (e.g. "train" or "data/"). */
  pathContains?: string;
}

/** What was downloaded. */
export interface HubDataset {
  /** Resolved commit. */
  commit: string;
  /** Folder holding the downloaded files under their repository paths (give it to the readers). */
  dir: string;
  /** Downloaded files (absolute paths in `dir`). */
  files: string[];
}

/**
 * Downloads the data files of dataset repo `repo` ("owner/name"). When Parquet files exist, only they
 * are taken (repos often carry the same data in several formats).
 */
export async function downloadHubDataset(repo: string, options: HubDatasetOptions = {}): Promise<HubDataset> {
  const accessToken = options.token ?? (process.env.HF_TOKEN || undefined);
  const common = { hubUrl: options.hubUrl, ...(accessToken ? { accessToken } : {}) };
  const describe = (err: unknown) => redact((err as Error).message, accessToken);
  let commit: string;
  try {
    const info = await datasetInfo<"sha">({ name: repo, revision: options.revision ?? "main", additionalFields: ["sha"], ...common });
    commit = info.sha;
  } catch (err) {
    throw new TunekitError(`cannot open dataset "${repo}" on the hub: ${describe(err)}`);
  }
  const dataFiles: string[] = [];
  try {
    for await (const entry of listFiles({ repo: { type: "dataset", name: repo }, recursive: true, revision: commit, ...common })) {
      if (entry.type !== "file") continue;
      if (!TABLE_EXTENSIONS.includes(extname(entry.path).toLowerCase())) continue;
      if (options.pathContains && !entry.path.includes(options.pathContains)) continue;
      dataFiles.push(entry.path);
    }
  } catch (err) {
    throw new TunekitError(`cannot list the files of dataset "${repo}": ${describe(err)}`);
  }
  const parquet = dataFiles.filter((p) => p.toLowerCase().endsWith(".parquet"));
  const chosen = (parquet.length ? parquet : dataFiles).sort();
  if (chosen.length === 0) throw new TunekitError(`dataset "${repo}" has no ${TABLE_EXTENSIONS.join("/")} files${options.pathContains ? ` matching "${options.pathContains}"` : ""}`);
  const files: string[] = [];
  // downloadFileToCacheDir announces each download with console.debug on stdout; keep stdout for --json.
  const debug = console.debug;
  console.debug = () => {};
  try {
    for (const path of chosen) {
      files.push(await downloadFileToCacheDir({ repo: { type: "dataset", name: repo }, path, revision: commit, cacheDir: options.cacheDir, ...common }));
    }
  } catch (err) {
    throw new TunekitError(`cannot download from dataset "${repo}": ${describe(err)}`);
  } finally {
    console.debug = debug;
  }
  const dir = files[0]!.slice(0, files[0]!.length - chosen[0]!.length).replace(/[\\/]$/, "");
  return { commit, dir: dir || join(files[0]!, ".."), files };
}

/** Removes a secret from a message. */
export function redact(message: string, secret: string | undefined): string {
  return secret ? message.split(secret).join("***") : message;
}
