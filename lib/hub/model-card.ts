// A model card (README.md with Hugging Face YAML front matter) built from a tunekit run folder:
// config.json (the training configuration), metrics.jsonl (training/eval curves) and eval.json files.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** What the card is built from. */
export interface ModelCardInput {
  /** Repository the card is for ("owner/name"). */
  repo: string;
  /** Training configuration (config.json), if any. */
  config?: Record<string, unknown>;
  /** metrics.jsonl rows, if any. */
  metrics?: Array<Record<string, unknown>>;
  /** eval.json results found beside them. */
  evals?: Array<{ name?: string; metrics?: Record<string, number>; data?: { examples?: number } }>;
  /** Hub id of the base model (front matter base_model). Default: config.baseModel / config.model when it looks like owner/name. */
  baseModel?: string;
  /** Files in the upload, with sizes. */
  files?: Array<{ path: string; bytes: number }>;
  /** License identifier for the front matter. */
  license?: string;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** Reads config.json, metrics.jsonl and eval.json from a run folder (missing files are skipped). */
export function readRunFolder(dir: string): Pick<ModelCardInput, "config" | "metrics" | "evals"> {
  const out: Pick<ModelCardInput, "config" | "metrics" | "evals"> = {};
  const config = readJson(join(dir, "config.json"));
  if (config && typeof config === "object" && !Array.isArray(config))
    out.config = config as Record<string, unknown>;
  const metricsFile = join(dir, "metrics.jsonl");
  if (existsSync(metricsFile)) {
    out.metrics = readFileSync(metricsFile, "utf8")
      .split(/\r?\n/)
      .filter((l) => l.trim())
      .flatMap((l) => {
        try {
          const v: unknown = JSON.parse(l);
          return v && typeof v === "object" ? [v as Record<string, unknown>] : [];
        } catch {
          return []; // a torn last line of a running job
        }
      });
  }
  const ev = readJson(join(dir, "eval.json")) as { kind?: string } | undefined;
  if (ev?.kind === "tunekit-eval") out.evals = [ev as NonNullable<ModelCardInput["evals"]>[number]];
  return out;
}

function yamlString(s: string): string {
  return /^[\w./-]+$/.test(s) ? s : JSON.stringify(s);
}

function fmt(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : Number(v.toPrecision(5)).toString();
  if (typeof v === "string") return v.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return JSON.stringify(v).replace(/\|/g, "\\|");
}

function flatten(o: Record<string, unknown>, prefix = ""): Array<[string, unknown]> {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? flatten(v as Record<string, unknown>, `${prefix}${k}.`)
      : [[`${prefix}${k}`, v] as [string, unknown]],
  );
}

function metricSummary(rows: Array<Record<string, unknown>>): Array<[string, string]> {
  const num = (r: Record<string, unknown>, k: string) =>
    typeof r[k] === "number" ? (r[k] as number) : undefined;
  const train = rows.filter((r) => num(r, "loss") !== undefined);
  const evalKey = rows.some((r) => num(r, "eval_loss") !== undefined) ? "eval_loss" : undefined;
  const evals = evalKey ? rows.filter((r) => num(r, evalKey) !== undefined) : [];
  const out: Array<[string, string]> = [];
  const steps = rows.map((r) => num(r, "step")).filter((s): s is number => s !== undefined);
  if (steps.length) out.push(["steps", String(Math.max(...steps))]);
  if (train.length) {
    out.push(["first training loss", fmt(num(train[0], "loss"))]);
    out.push(["last training loss", fmt(num(train[train.length - 1], "loss"))]);
  }
  if (evals.length) {
    const best = evals.reduce((a, b) => (num(b, evalKey!)! < num(a, evalKey!)! ? b : a));
    out.push([
      "best eval loss",
      `${fmt(num(best, evalKey!))}${num(best, "step") !== undefined ? ` (step ${num(best, "step")})` : ""}`,
    ]);
    out.push(["last eval loss", fmt(num(evals[evals.length - 1], evalKey!))]);
  }
  const speed = rows.map((r) => num(r, "tokens_per_s")).filter((v): v is number => v !== undefined);
  if (speed.length)
    out.push([
      "training speed (median tokens/s)",
      fmt([...speed].sort((a, b) => a - b)[Math.floor(speed.length / 2)]),
    ]);
  return out;
}

/** The README.md text. */
export function buildModelCard(i: ModelCardInput): string {
  const cfg = i.config ?? {};
  const candidate =
    i.baseModel ??
    (typeof cfg.baseModel === "string"
      ? cfg.baseModel
      : typeof cfg.model === "string"
        ? cfg.model
        : undefined);
  const baseModel =
    candidate && /^[\w.-]+\/[\w.-]+$/.test(candidate) && !/\.gguf$/i.test(candidate) ? candidate : undefined;
  const hasGguf = i.files?.some((f) => /\.gguf$/i.test(f.path));
  const hasPeft = i.files?.some((f) => f.path.endsWith("adapter_config.json"));
  const tags = [
    "tunekit",
    ...(cfg.method === "full" ? ["fine-tuned"] : ["lora"]),
    ...(hasGguf ? ["gguf"] : []),
    ...(hasPeft ? ["peft"] : []),
  ];
  const front = [
    "---",
    ...(baseModel ? [`base_model: ${yamlString(baseModel)}`] : []),
    ...(i.license ? [`license: ${yamlString(i.license)}`] : []),
    ...(hasPeft ? ["library_name: peft"] : hasGguf ? ["library_name: gguf"] : []),
    "tags:",
    ...tags.map((t) => `  - ${t}`),
    "---",
  ];
  const body: string[] = [
    `# ${i.repo.split("/").pop()}`,
    "",
    `Fine-tuned with [tunekit](https://www.npmjs.com/package/tunekit)${baseModel ? ` from [${baseModel}](https://huggingface.co/${baseModel})` : ""}.`,
    "",
  ];
  if (i.config) {
    body.push(
      "## Training configuration",
      "",
      "| setting | value |",
      "| --- | --- |",
      ...flatten(i.config).map(([k, v]) => `| ${k} | ${fmt(v)} |`),
      "",
    );
  }
  if (i.metrics?.length) {
    const summary = metricSummary(i.metrics);
    if (summary.length)
      body.push(
        "## Training metrics",
        "",
        "| metric | value |",
        "| --- | --- |",
        ...summary.map(([k, v]) => `| ${k} | ${v} |`),
        "",
      );
  }
  for (const ev of i.evals ?? []) {
    if (!ev.metrics) continue;
    body.push(
      `## Evaluation${ev.name ? `: ${ev.name}` : ""}`,
      "",
      ...(ev.data?.examples ? [`${ev.data.examples} examples.`, ""] : []),
      "| metric | value |",
      "| --- | --- |",
    );
    body.push(...Object.entries(ev.metrics).map(([k, v]) => `| ${k} | ${fmt(v)} |`), "");
  }
  if (i.files?.length)
    body.push(
      "## Files",
      "",
      "| file | size |",
      "| --- | --- |",
      ...i.files.map((f) => `| ${f.path} | ${(f.bytes / 1e6).toFixed(2)} MB |`),
      "",
    );
  const gguf = i.files?.find((f) => /\.gguf$/i.test(f.path) && !/adapter/i.test(f.path))?.path;
  const adapter = i.files?.find((f) => /adapter.*\.gguf$/i.test(f.path))?.path;
  if (gguf || adapter) {
    body.push("## Usage", "", "```sh");
    if (gguf) body.push(`llama-cli -m ${gguf} -cnv`, `npx tunekit serve --model ${gguf} --port 8080`);
    else
      body.push(
        `llama-cli -m BASE.gguf --lora ${adapter} -cnv`,
        `npx tunekit serve --model BASE.gguf --adapter ${adapter} --port 8080`,
      );
    body.push("```", "");
  }
  return [...front, "", ...body].join("\n");
}
