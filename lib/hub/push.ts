// `hub push`: upload a folder (a run folder, an exported GGUF, a PEFT adapter) to a model or dataset
// repository with @huggingface/hub: the repo is created when missing, all files go in one commit
// (large ones through LFS), and a README.md model card is generated from the run folder's config.json,
// metrics.jsonl and eval.json when the folder has none. The token comes from HF_TOKEN and is never printed.
import { existsSync, openAsBlob, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { createRepo, repoExists, uploadFiles } from "@huggingface/hub";
import { InputError, TunekitError } from "../util/errors.js";
import { hubError, hubToken, hubUrl, matchesAny, parseRepo, quietly, type HubRepoType } from "./common.js";
import { buildModelCard, readRunFolder } from "./model-card.js";

/** Options of {@link hubPush}. */
export interface HubPushOptions {
  /** Folder to upload. */
  dir: string;
  /** Target repository "owner/name". */
  repo: string;
  /** "model" (default) or "dataset". */
  repoType?: HubRepoType;
  /** Create the repository as private when it does not exist. Default true. */
  private?: boolean;
  /** Branch to commit to. Default "main". */
  branch?: string;
  /** Commit title. */
  commitMessage?: string;
  /** Only files matching these globs. */
  include?: string[];
  /** Folder with config.json / metrics.jsonl / eval.json for the model card. Default: `dir`. */
  runDir?: string;
  /** Generate README.md when `dir` has none. Default true. */
  modelCard?: boolean;
  /** base_model for the card's front matter (a hub id). */
  baseModel?: string;
  /** Hub URL. Default: HF_ENDPOINT or https://huggingface.co. */
  hubUrl?: string;
  /** Access token. Default: HF_TOKEN. */
  token?: string;
}

/** Result of {@link hubPush}. */
export interface HubPushResult {
  repo: string;
  repoType: HubRepoType;
  /** The repository did not exist and was created. */
  created: boolean;
  /** Commit id and URL. */
  commit?: string;
  commitUrl?: string;
  files: Array<{ path: string; bytes: number }>;
  /** A README.md model card was generated. */
  modelCard: boolean;
}

function walk(root: string, dir = root): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      if (name === ".git" || name === ".cache" || name.startsWith(".tmp") || /\.tmp$/.test(name)) return [];
      const full = join(dir, name);
      const st = statSync(full);
      return st.isDirectory()
        ? walk(root, full)
        : st.isFile()
          ? [relative(root, full).split(sep).join("/")]
          : [];
    });
}

/** Uploads a folder; returns the commit. */
export async function hubPush(o: HubPushOptions): Promise<HubPushResult> {
  const repo = parseRepo(o.repo, o.repoType);
  if (!existsSync(o.dir) || !statSync(o.dir).isDirectory())
    throw new InputError("not a folder", { file: o.dir });
  const token = hubToken(o.token);
  if (!token) throw new TunekitError("pushing needs a Hugging Face token with write access: set HF_TOKEN");
  const url = hubUrl(o.hubUrl);
  let paths = walk(o.dir);
  if (o.include?.length) paths = paths.filter((p) => matchesAny(p, o.include!));
  if (paths.length === 0) throw new InputError("nothing to upload", { file: o.dir });
  const files = paths.map((p) => ({ path: p, bytes: statSync(join(o.dir, p)).size }));
  const uploads: Array<{ path: string; content: Blob }> = await Promise.all(
    paths.map(async (p) => ({ path: p, content: await openAsBlob(join(o.dir, p)) })),
  );
  let modelCard = false;
  // A partial upload (--include) never replaces the card of the full one.
  if ((o.modelCard ?? true) && repo.type === "model" && !o.include?.length && !paths.includes("README.md")) {
    const card = buildModelCard({
      repo: repo.name,
      ...readRunFolder(o.runDir ?? o.dir),
      files,
      ...(o.baseModel ? { baseModel: o.baseModel } : {}),
    });
    uploads.push({ path: "README.md", content: new Blob([card]) });
    files.push({ path: "README.md", bytes: Buffer.byteLength(card) });
    modelCard = true;
  }
  try {
    const exists = await repoExists({ repo, hubUrl: url, accessToken: token });
    if (!exists) await createRepo({ repo, accessToken: token, hubUrl: url, private: o.private ?? true });
    const out = await quietly(() =>
      uploadFiles({
        repo,
        accessToken: token,
        hubUrl: url,
        files: uploads,
        branch: o.branch ?? "main",
        commitTitle: o.commitMessage ?? `Upload ${uploads.length} files with tunekit`,
      }),
    );
    return {
      repo: repo.name,
      repoType: repo.type,
      created: !exists,
      ...(out?.commit.oid ? { commit: out.commit.oid, commitUrl: out.commit.url } : {}),
      files,
      modelCard,
    };
  } catch (err) {
    throw hubError(`cannot push to ${repo.type} ${repo.name}`, err, token);
  }
}
