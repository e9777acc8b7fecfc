// Roboflow exports as a data source. The HTTP API (https://docs.roboflow.com/api):
//   GET {api}/{workspace}/{project}/{version}/{format}?api_key=KEY
//     200 → {"export": {"link": "<zip url>"}, ...}   the export is ready
//     202 → {"progress": 0.42, ...}                  the export is being generated: ask again
// then GET <zip url> gives the archive (COCO: <split>/_annotations.coco.json; "folder": <split>/<class>/…;
// "multiclass": <split>/_classes.csv). The key comes from ROBOFLOW_API_KEY (or the option) and is
// never printed. A local export folder needs no client: give it to `--format images` directly.
import { existsSync } from "node:fs";
import { TunekitError } from "../../util/errors.js";
import { writeDirAtomically } from "../../util/atomic.js";
import { extractZip } from "./unzip.js";
import { redact } from "./hf.js";

/** Options of {@link downloadRoboflowExport}. */
export interface RoboflowExportOptions {
  /** Workspace slug (e.g. "detection-3nbwx"). */
  workspace: string;
  /** Project slug (e.g. "coffe-mw9n0"). */
  project: string;
  /** Dataset version number. */
  version: number;
  /** Export format (default "coco"; also "folder", "multiclass", "yolov8"…; tunekit reads coco, folder and multiclass). */
  format?: string;
  /** Folder to extract into (replaced atomically when the download completes). */
  outDir: string;
  /** API key (default: ROBOFLOW_API_KEY). */
  apiKey?: string;
  /** API endpoint (default https://api.roboflow.com; tests use a local server). */
  apiUrl?: string;
  /** Wait between polls while the export is generated, in ms (default 2000). */
  pollMs?: number;
  /** Give up after this long, in ms (default 10 minutes). */
  timeoutMs?: number;
  /** Called with export progress in [0, 1] while waiting. */
  onProgress?: (progress: number) => void;
  /** Re-download even when outDir exists (default false: an existing folder is reused). */
  overwrite?: boolean;
}

/** Downloads and extracts a Roboflow dataset version; returns the extracted folder. */
export async function downloadRoboflowExport(options: RoboflowExportOptions): Promise<{ dir: string; files: string[]; reused: boolean }> {
  const key = options.apiKey ?? process.env.ROBOFLOW_API_KEY;
  if (!key) throw new TunekitError("set ROBOFLOW_API_KEY (or pass the key) to download from Roboflow");
  if (existsSync(options.outDir) && !options.overwrite) return { dir: options.outDir, files: [], reused: true };
  const api = (options.apiUrl ?? "https://api.roboflow.com").replace(/\/$/, "");
  const format = options.format ?? "coco";
  const path = [options.workspace, options.project, String(options.version), format].map(encodeURIComponent).join("/");
  const url = `${api}/${path}?api_key=${encodeURIComponent(key)}`;
  const where = `${api}/${path}`;
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  let link: string | undefined;
  for (;;) {
    let res: Response;
    try {
      res = await fetch(url);
    } catch (err) {
      throw new TunekitError(`cannot reach Roboflow at ${where}: ${redact((err as Error).message, key)}`);
    }
    const body = (await res.json().catch(() => ({}))) as { export?: { link?: unknown }; progress?: unknown; error?: unknown; message?: unknown };
    if (res.status === 202) {
      if (typeof body.progress === "number") options.onProgress?.(body.progress);
      if (Date.now() > deadline) throw new TunekitError(`Roboflow export ${where} still not ready after ${Math.round((options.timeoutMs ?? 600_000) / 1000)} s`);
      await new Promise((r) => setTimeout(r, options.pollMs ?? 2000));
      continue;
    }
    if (!res.ok) {
      const detail = typeof body.error === "object" ? JSON.stringify(body.error) : String(body.error ?? body.message ?? res.statusText);
      throw new TunekitError(`Roboflow refused ${where} (HTTP ${res.status}): ${redact(detail, key)}`);
    }
    if (typeof body.export?.link !== "string") throw new TunekitError(`Roboflow answered ${where} without export.link`);
    link = body.export.link;
    break;
  }
  options.onProgress?.(1);
  const zipRes = await fetch(link).catch((err: Error) => {
    throw new TunekitError(`cannot download the Roboflow export: ${redact(err.message, key)}`);
  });
  if (!zipRes.ok) throw new TunekitError(`downloading the Roboflow export failed (HTTP ${zipRes.status})`);
  const zip = Buffer.from(await zipRes.arrayBuffer());
  let files: string[] = [];
  await writeDirAtomically(options.outDir, (tmp) => {
    files = extractZip(zip, tmp, `${options.project}-${options.version}-${format}.zip`);
  });
  return { dir: options.outDir, files, reused: false };
}
