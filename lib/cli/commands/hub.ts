// `tunekit hub pull …` and `tunekit hub push …`: thin callers of lib/hub. The token (HF_TOKEN) is never printed.
import type { Command } from "commander";
import { hubPull, type HubPullResult } from "../../hub/pull.js";
import { hubPush, type HubPushResult } from "../../hub/push.js";
import { InputError } from "../../util/errors.js";
import { action, emit, type CommonOptions } from "../output.js";
import type { HubRepoType } from "../../hub/common.js";

interface PullOptions extends CommonOptions {
  revision?: string;
  include?: string[];
  repoType?: string;
  cacheDir?: string;
  offline?: boolean;
}

interface PushOptions extends CommonOptions {
  repo: string;
  repoType?: string;
  public?: boolean;
  branch?: string;
  message?: string;
  include?: string[];
  runDir?: string;
  card?: boolean;
  baseModel?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(",").filter(Boolean)];

function repoType(v: string | undefined): HubRepoType | undefined {
  if (v === undefined) return undefined;
  if (v !== "model" && v !== "dataset")
    throw new InputError("--repo-type must be model or dataset", { field: "repo-type" });
  return v;
}

function renderPull(r: HubPullResult): string {
  const total = r.files.reduce((s, f) => s + f.bytes, 0);
  return [
    `${r.repoType} ${r.repo}@${r.revision} → commit ${r.commit}${r.offline ? " (offline, from the cache)" : ""}`,
    ...r.files.map((f) => `  ${f.path}  ${(f.bytes / 1e6).toFixed(2)} MB`),
    `${r.files.length} files, ${(total / 1e6).toFixed(2)} MB in ${r.snapshotPath}`,
  ].join("\n");
}

function renderPush(r: HubPushResult): string {
  return [
    `${r.created ? "created and pushed to" : "pushed to"} ${r.repoType} ${r.repo}${r.commit ? ` (commit ${r.commit})` : ""}`,
    ...r.files.map((f) => `  ${f.path}  ${(f.bytes / 1e6).toFixed(2)} MB`),
    ...(r.modelCard ? ["README.md model card generated from the run folder"] : []),
    ...(r.commitUrl ? [r.commitUrl] : []),
  ].join("\n");
}

export function register(program: Command): void {
  const hub = program
    .command("hub")
    .description("Download from and upload to the Hugging Face Hub (token: HF_TOKEN; hub URL: HF_ENDPOINT)");
  hub
    .command("pull")
    .description("Download a repository (or the files matching --include) into the Hugging Face cache")
    .argument("<repo>", "owner/name")
    .option("--revision <rev>", "branch, tag or commit (default main)")
    .option("--include <glob>", "only files matching this glob (repeatable or comma-separated)", collect)
    .option("--repo-type <type>", "model (default) or dataset")
    .option("--cache-dir <dir>", "cache folder (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)")
    .option("--offline", "use the cache only (also HF_HUB_OFFLINE=1)")
    .option("--json", "one JSON document on stdout")
    .action(
      action(async (repo: string, opts: PullOptions) => {
        const r = await hubPull({
          repo,
          repoType: repoType(opts.repoType),
          ...(opts.revision ? { revision: opts.revision } : {}),
          ...(opts.include ? { include: opts.include } : {}),
          ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
          ...(opts.offline ? { offline: true } : {}),
        });
        emit(r, opts, renderPull);
      }),
    );
  hub
    .command("push")
    .description("Upload a folder to a repository (created if missing) with a generated model card")
    .argument("<dir>", "folder to upload (a run folder, an export)")
    .requiredOption("--repo <repo>", "owner/name")
    .option("--repo-type <type>", "model (default) or dataset")
    .option("--public", "create the repository public (default private)")
    .option("--branch <name>", "branch (default main)")
    .option("--message <text>", "commit title")
    .option("--include <glob>", "only files matching this glob (repeatable or comma-separated)", collect)
    .option(
      "--run-dir <dir>",
      "run folder with config.json/metrics.jsonl/eval.json for the model card (default: <dir>)",
    )
    .option("--no-card", "do not generate README.md")
    .option("--base-model <id>", "base_model in the model card (a hub id)")
    .option("--json", "one JSON document on stdout")
    .action(
      action(async (dir: string, opts: PushOptions) => {
        const r = await hubPush({
          dir,
          repo: opts.repo,
          repoType: repoType(opts.repoType),
          private: !opts.public,
          ...(opts.branch ? { branch: opts.branch } : {}),
          ...(opts.message ? { commitMessage: opts.message } : {}),
          ...(opts.include ? { include: opts.include } : {}),
          ...(opts.runDir ? { runDir: opts.runDir } : {}),
          modelCard: opts.card !== false,
          ...(opts.baseModel ? { baseModel: opts.baseModel } : {}),
        });
        emit(r, opts, renderPush);
      }),
    );
}
