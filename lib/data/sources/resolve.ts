// `--in` may name a local path or a remote source:
//   hf://owner/name[@revision]                 a Hugging Face dataset repo (Parquet/JSONL/JSON/CSV files)
//   roboflow://workspace/project/version[/format]  a Roboflow export (default format: coco)
// Remote sources are downloaded to a cache and the local folder is returned.
import { homedir } from "node:os";
import { join } from "node:path";
import { TunekitError } from "../../util/errors.js";
import { downloadHubDataset } from "./hf.js";
import { downloadRoboflowExport } from "./roboflow.js";

/** Options of {@link resolveInput}. */
export interface ResolveInputOptions {
  /** Hub endpoint for hf:// (tests). */
  hubUrl?: string;
  /** Hugging Face cache folder. */
  hfCacheDir?: string;
  /** Roboflow API endpoint (tests). */
  roboflowApiUrl?: string;
  /** Where Roboflow exports are kept (default ~/.cache/tunekit/roboflow). */
  roboflowCacheDir?: string;
  /** Only hub files whose path contains this text. */
  pathContains?: string;
}

/** What `--in` resolved to. */
export interface ResolvedInput {
  /** Local file or folder for the converters. */
  path: string;
  /** Where it came from, for the report (no secrets). */
  source: string;
}

/** Resolves `--in` to a local path, downloading remote sources. */
export async function resolveInput(input: string, options: ResolveInputOptions = {}): Promise<ResolvedInput> {
  const hf = /^hf:\/\/([^@\s]+?)(?:@(.+))?$/.exec(input);
  if (hf) {
    const ds = await downloadHubDataset(hf[1]!, { revision: hf[2], hubUrl: options.hubUrl, cacheDir: options.hfCacheDir, pathContains: options.pathContains });
    return { path: ds.dir, source: `hf://${hf[1]}@${ds.commit}` };
  }
  const rf = /^roboflow:\/\/([^/]+)\/([^/]+)\/(\d+)(?:\/([\w-]+))?$/.exec(input);
  if (rf) {
    const [, workspace, project, version, format = "coco"] = rf;
    const outDir = join(options.roboflowCacheDir ?? join(homedir(), ".cache", "tunekit", "roboflow"), workspace!, project!, `${version}-${format}`);
    await downloadRoboflowExport({ workspace: workspace!, project: project!, version: Number(version), format, outDir, apiUrl: options.roboflowApiUrl });
    return { path: outDir, source: input };
  }
  if (/^[a-z]+:\/\//i.test(input)) throw new TunekitError(`unsupported source "${input}" (use a path, hf://owner/name[@rev] or roboflow://workspace/project/version[/format])`);
  return { path: input, source: input };
}
