// Rich output for notebook cells (tables, plotly charts, images, markdown) that degrades to plain text
// on stdout outside a Jupyter kernel, so the CLI can call the same functions.
//
// Inside a tslab kernel, tslab's own module `tslab/dist/jupyter.js` holds the function that sends a
// Jupyter `display_data` message for the running cell. We find that module in Node's CommonJS cache
// instead of importing tslab: a static import would load tslab's TypeScript compiler in every CLI run,
// and tslab's public `display.raw` sends one MIME type per output, while a Jupyter output bundle can
// carry several (a plotly figure plus an HTML rendering plus plain text) for the front end to choose from.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, sep } from "node:path";

const require = createRequire(import.meta.url);

/** A Jupyter MIME bundle: MIME type → content (text, or base64 for binary types). */
export type MimeBundle = Record<string, string>;

type WriteDisplayData = (
  content: { data: MimeBundle; metadata: Record<string, unknown>; transient: Record<string, unknown> },
  update: boolean,
) => void;

const JUPYTER_MODULE_SUFFIX = `${sep}tslab${sep}dist${sep}jupyter.js`;

/** The running cell's display sender when this process is a tslab kernel executing a cell, else undefined. */
function kernelWriter(): WriteDisplayData | undefined {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!file.endsWith(JUPYTER_MODULE_SUFFIX)) continue;
    const write = (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData;
    if (typeof write === "function") return write as WriteDisplayData;
  }
  return undefined;
}

/** True when called from a cell running in a tslab Jupyter kernel. */
export function inNotebook(): boolean {
  return kernelWriter() !== undefined;
}

/**
 * Sends a MIME bundle to the notebook; outside a kernel prints its `text/plain` entry to stdout.
 * Every show* function goes through here.
 */
export function displayBundle(bundle: MimeBundle, options: DisplayOptions = {}): void {
  const write = kernelWriter();
  const transient = options.displayId ? { display_id: options.displayId } : {};
  if (write) write({ data: bundle, metadata: {}, transient }, options.update === true);
  else process.stdout.write((bundle["text/plain"] ?? "") + "\n");
}

/** Options of {@link displayBundle}. */
export interface DisplayOptions {
  /** Jupyter display id: a later call with the same id and `update: true` replaces this output in place. */
  displayId?: string;
  /** Replace the output shown earlier under `displayId` instead of adding a new one. */
  update?: boolean;
}

// ---------------------------------------------------------------- tables

/** Something table-shaped: plain row objects, or a nodejs-polars DataFrame (anything with toRecords()). */
export type TableInput =
  ReadonlyArray<Record<string, unknown>> | { toRecords(): Array<Record<string, unknown>> };

/** Options of {@link showTable}. */
export interface TableOptions {
  /** Columns to show, in order; default: every key seen in the rows, in first-seen order. */
  columns?: string[];
  /** A caption shown above the table. */
  title?: string;
  /** Longest cell text before it is cut with "…" (default 160 characters). */
  maxCellChars?: number;
  /** Most rows shown; the rest are counted in a note (default 50). */
  maxRows?: number;
}

/** Normalises table input to row objects. */
export function tableRows(input: TableInput): Array<Record<string, unknown>> {
  // polars DataFrames are Proxies whose `has` trap does not report methods, so no `"toRecords" in input`.
  const toRecords = (input as { toRecords?: unknown }).toRecords;
  return typeof toRecords === "function"
    ? (toRecords.call(input) as Array<Record<string, unknown>>)
    : [...(input as ReadonlyArray<Record<string, unknown>>)];
}

/** Formats one cell value as short text: numbers to at most 4 decimals, objects as JSON. */
export function formatCell(value: unknown, maxChars = 160): string {
  let text: string;
  if (value === null || value === undefined) text = "";
  else if (typeof value === "number")
    text = Number.isInteger(value) ? String(value) : String(Number(value.toFixed(4)));
  else if (typeof value === "bigint") text = value.toString();
  else if (typeof value === "string") text = value;
  else if (value instanceof Date) text = value.toISOString();
  else text = JSON.stringify(value) ?? String(value);
  text = text.replace(/\s+/g, " ");
  return text.length > maxChars ? text.slice(0, maxChars - 1) + "…" : text;
}

function tableColumns(rows: Array<Record<string, unknown>>, columns?: string[]): string[] {
  if (columns) return columns;
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Plain-text rendering of a table: aligned columns, numbers right-aligned. */
export function formatTableText(input: TableInput, options: TableOptions = {}): string {
  const rows = tableRows(input);
  const columns = tableColumns(rows, options.columns);
  const maxRows = options.maxRows ?? 50;
  const shown = rows.slice(0, maxRows);
  const cells = shown.map((row) => columns.map((c) => formatCell(row[c], options.maxCellChars ?? 160)));
  const numeric = columns.map((c) => shown.length > 0 && shown.every((r) => typeof r[c] === "number"));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out: string[] = [];
  if (options.title) out.push(options.title);
  out.push(line(columns), widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells) out.push(line(r));
  if (rows.length > shown.length)
    out.push(`… ${rows.length - shown.length} more rows (${rows.length} in all)`);
  return out.join("\n");
}

/** HTML rendering of a table (a plain `<table>` that Jupyter front ends style). */
export function formatTableHtml(input: TableInput, options: TableOptions = {}): string {
  const rows = tableRows(input);
  const columns = tableColumns(rows, options.columns);
  const maxRows = options.maxRows ?? 50;
  const shown = rows.slice(0, maxRows);
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body = shown
    .map((row) => {
      const tds = columns.map((c) => {
        const v = row[c];
        const align = typeof v === "number" ? ' style="text-align:right"' : ' style="text-align:left"';
        return `<td${align}>${escapeHtml(formatCell(v, options.maxCellChars ?? 160))}</td>`;
      });
      return `<tr>${tds.join("")}</tr>`;
    })
    .join("\n");
  const caption = options.title
    ? `<caption style="text-align:left;font-weight:bold">${escapeHtml(options.title)}</caption>`
    : "";
  const more =
    rows.length > shown.length
      ? `<p><i>… ${rows.length - shown.length} more rows (${rows.length} in all)</i></p>`
      : "";
  return `<table class="tunekit-table">${caption}<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>${more}`;
}

/** Shows a table: HTML in a notebook, aligned text elsewhere. Accepts row objects or a polars DataFrame. */
export function showTable(input: TableInput, options: TableOptions = {}): void {
  displayBundle({
    "text/html": formatTableHtml(input, options),
    "text/plain": formatTableText(input, options),
  });
}

// ---------------------------------------------------------------- plots

/** A plotly figure: traces and layout as plotly.js takes them. */
export interface PlotlyFigure {
  /** Traces, e.g. `{ type: "scatter", x: [...], y: [...], name: "loss" }`. */
  data: Array<Record<string, unknown>>;
  /** Layout, e.g. `{ title: { text: "Loss" }, xaxis: { title: { text: "step" } } }`. */
  layout?: Record<string, unknown>;
  /** plotly.js config, e.g. `{ displaylogo: false }`. */
  config?: Record<string, unknown>;
}

/** The plotly.js bundle shipped by plotly.js-dist-min (about 4.8 MB), read once. */
let plotlyJs: string | undefined;
function plotlyLibrary(): string {
  plotlyJs ??= readFileSync(require.resolve("plotly.js-dist-min"), "utf8");
  return plotlyJs;
}

/** Whether this process already sent plotly.js to the notebook (only the first chart carries it). */
let plotlySentToNotebook = false;

function figureTitle(fig: PlotlyFigure): string | undefined {
  const t = fig.layout?.title;
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof (t as { text?: unknown }).text === "string")
    return (t as { text: string }).text;
  return undefined;
}

/** Plain-text summary of a figure: its title and, per trace, name, type and number of points. */
export function formatPlotText(fig: PlotlyFigure): string {
  const lines = [`[plot] ${figureTitle(fig) ?? "(untitled)"}`];
  for (const [i, trace] of fig.data.entries()) {
    const n = ["y", "x", "values", "z"].map((k) => trace[k]).find(Array.isArray)?.length ?? 0;
    const name = trace.name === undefined ? "" : `${String(trace.name)} `;
    lines.push(`  trace ${i + 1}: ${name}(${String(trace.type ?? "scatter")}, ${n} points)`);
  }
  return lines.join("\n");
}

/**
 * An HTML fragment that draws the figure with plotly.js. `includeLibrary` inlines plotly.js itself
 * (needed once per page; offline, so no CDN); later fragments on the same page reuse `window.Plotly`.
 */
export function plotHtml(fig: PlotlyFigure, options: { includeLibrary: boolean; divId?: string }): string {
  const id = options.divId ?? `tunekit-plot-${Math.random().toString(36).slice(2, 10)}`;
  // "</script" inside the JSON would end the script element early.
  const json = JSON.stringify({ data: fig.data, layout: fig.layout ?? {}, config: fig.config ?? {} }).replace(
    /<\//g,
    "<\\/",
  );
  const lib = options.includeLibrary ? `<script type="text/javascript">${plotlyLibrary()}</script>\n` : "";
  return (
    `${lib}<div id="${id}" style="width:100%;min-height:420px"></div>\n` +
    `<script type="text/javascript">(function(){var f=${json};` +
    `if(window.Plotly){window.Plotly.newPlot("${id}",f.data,f.layout,f.config);}` +
    `else{document.getElementById("${id}").textContent="plotly.js is not loaded on this page";}})();</script>`
  );
}

/** A standalone HTML page with the chart (plotly.js inlined), for saving next to a run's files. */
export function plotHtmlDocument(fig: PlotlyFigure): string {
  const title = escapeHtml(figureTitle(fig) ?? "tunekit plot");
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>\n${plotHtml(fig, { includeLibrary: true })}\n</body></html>\n`;
}

/**
 * Shows a plotly figure. In a notebook the output bundle holds the figure as
 * `application/vnd.plotly.v1+json` (rendered natively by JupyterLab/VS Code/Colab-style front ends with
 * plotly support), an HTML rendering with plotly.js (for the classic notebook and HTML exports) and a
 * text summary. Outside a notebook the text summary is printed.
 */
export function showPlot(fig: PlotlyFigure): void {
  const bundle: MimeBundle = {
    "application/vnd.plotly.v1+json": JSON.stringify({
      data: fig.data,
      layout: fig.layout ?? {},
      config: fig.config ?? {},
    }),
    "text/plain": formatPlotText(fig),
  };
  if (inNotebook()) {
    bundle["text/html"] = plotHtml(fig, { includeLibrary: !plotlySentToNotebook });
    plotlySentToNotebook = true;
  }
  displayBundle(bundle);
}

// ---------------------------------------------------------------- images and markdown

/** Width and height from a PNG's IHDR chunk, or undefined if the bytes are not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Options of {@link showImage}. */
export interface ImageOptions {
  /** Width to display at, in CSS pixels (the picture itself is not resized). */
  width?: number;
  /** A caption printed under the image (and in the text form). */
  caption?: string;
}

/** Shows a PNG file: the picture in a notebook, `[image] path (W×H)` elsewhere. */
export function showImage(pngPath: string, options: ImageOptions = {}): void {
  const bytes = readFileSync(pngPath);
  const size = pngSize(bytes);
  if (!size) throw new Error(`${pngPath}: not a PNG file`);
  const text = `[image] ${options.caption ?? basename(pngPath)} (${size.width}×${size.height}) ${pngPath}`;
  const write = kernelWriter();
  if (!write) {
    process.stdout.write(text + "\n");
    return;
  }
  const metadata = options.width ? { "image/png": { width: options.width } } : {};
  write(
    { data: { "image/png": bytes.toString("base64"), "text/plain": text }, metadata, transient: {} },
    false,
  );
  if (options.caption)
    displayBundle({ "text/markdown": `*${options.caption}*`, "text/plain": options.caption });
}

/** Shows several PNG files side by side in one HTML row (each with its caption); text lines elsewhere. */
export function showImageRow(
  items: Array<{ path: string; caption?: string }>,
  options: { width?: number } = {},
): void {
  const width = options.width ?? 96;
  const texts: string[] = [];
  const figures = items.map(({ path, caption }) => {
    const bytes = readFileSync(path);
    const size = pngSize(bytes);
    if (!size) throw new Error(`${path}: not a PNG file`);
    texts.push(`[image] ${caption ?? basename(path)} (${size.width}×${size.height}) ${path}`);
    const img = `<img src="data:image/png;base64,${bytes.toString("base64")}" width="${width}" style="image-rendering:pixelated">`;
    return `<figure style="display:inline-block;margin:4px;text-align:center">${img}<figcaption>${escapeHtml(caption ?? basename(path))}</figcaption></figure>`;
  });
  displayBundle({ "text/html": `<div>${figures.join("")}</div>`, "text/plain": texts.join("\n") });
}

/** Shows Markdown: rendered in a notebook, printed as is elsewhere. */
export function showMarkdown(markdown: string): void {
  displayBundle({ "text/markdown": markdown, "text/plain": markdown });
}

/**
 * A chart that is redrawn in place while something runs (e.g. a loss curve during training). Updates
 * carry the plotly figure and a text summary; {@link LivePlot.finish} adds the HTML rendering with
 * plotly.js inlined, so the saved notebook shows the final chart in every front end. Outside a kernel
 * only the final text summary is printed.
 */
export class LivePlot {
  private readonly id = `tunekit-live-${Math.random().toString(36).slice(2, 10)}`;
  private shown = false;

  /** Shows or redraws the figure. */
  update(fig: PlotlyFigure): void {
    if (!inNotebook()) return;
    const bundle: MimeBundle = {
      "application/vnd.plotly.v1+json": JSON.stringify({
        data: fig.data,
        layout: fig.layout ?? {},
        config: fig.config ?? {},
      }),
      "text/plain": formatPlotText(fig),
    };
    displayBundle(bundle, { displayId: this.id, update: this.shown });
    this.shown = true;
  }

  /** Draws the final figure (with its HTML rendering). */
  finish(fig: PlotlyFigure): void {
    const bundle: MimeBundle = {
      "application/vnd.plotly.v1+json": JSON.stringify({
        data: fig.data,
        layout: fig.layout ?? {},
        config: fig.config ?? {},
      }),
      "text/plain": formatPlotText(fig),
    };
    if (inNotebook()) bundle["text/html"] = plotHtml(fig, { includeLibrary: true, divId: this.id });
    displayBundle(bundle, { displayId: this.id, update: this.shown });
    this.shown = true;
  }
}
