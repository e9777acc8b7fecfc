// Plot helpers for notebooks: plotly figure objects ({data, layout}) and HTML strings. Display a figure
// in tslab with display.raw("application/vnd.plotly.v1+json", JSON.stringify(fig)) or through the
// notebook helpers; nothing here draws by itself.
import { messageImages, messageText, type ChatRecord } from "./record.js";

/** A plotly figure. */
export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

/** A named series of lengths. */
export interface LengthSeries {
  name: string;
  values: readonly number[];
}

/** Options of {@link lengthHistogram}. */
export interface LengthHistogramOptions {
  /** Figure title. */
  title?: string;
  /** What is counted (axis title), e.g. "tokens per record". */
  unit?: string;
  /** Number of bins (plotly's nbinsx; default 40). */
  bins?: number;
  /** A vertical line, e.g. at --max-seq. */
  limit?: { value: number; label: string };
}

/** Overlaid histograms of record lengths (e.g. train and eval, in tokens). */
export function lengthHistogram(series: readonly LengthSeries[], options: LengthHistogramOptions = {}): PlotlyFigure {
  const unit = options.unit ?? "tokens per record";
  const shapes = options.limit
    ? [{ type: "line", x0: options.limit.value, x1: options.limit.value, y0: 0, y1: 1, yref: "paper", line: { dash: "dash", color: "#c0392b" } }]
    : [];
  const annotations = options.limit
    ? [{ x: options.limit.value, y: 1, yref: "paper", text: options.limit.label, showarrow: false, xanchor: "left", font: { color: "#c0392b" } }]
    : [];
  return {
    data: series.map((s) => ({ type: "histogram", name: s.name, x: Array.from(s.values), nbinsx: options.bins ?? 40, opacity: series.length > 1 ? 0.6 : 1 })),
    layout: {
      title: { text: options.title ?? `Record lengths (${unit})` },
      barmode: "overlay",
      xaxis: { title: { text: unit } },
      yaxis: { title: { text: "records" } },
      shapes,
      annotations,
    },
  };
}

/** A bar chart of records per class, with the count and share on each bar. */
export function classBalanceChart(rows: ReadonlyArray<{ label: string; count: number }>, title = "Class balance"): PlotlyFigure {
  const total = rows.reduce((n, r) => n + r.count, 0) || 1;
  return {
    data: [
      {
        type: "bar",
        x: rows.map((r) => r.label),
        y: rows.map((r) => r.count),
        text: rows.map((r) => `${r.count} (${((100 * r.count) / total).toFixed(1)} %)`),
        textposition: "auto",
      },
    ],
    layout: { title: { text: title }, xaxis: { title: { text: "class" } }, yaxis: { title: { text: "images" } } },
  };
}

/** Escapes text for HTML. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Options of {@link examplesTable}. */
export interface ExamplesTableOptions {
  /** Most records shown (default 10). */
  limit?: number;
  /** Longest text shown per message before "…" (default 400 characters). */
  maxChars?: number;
}

const ROLE_COLOURS: Record<string, string> = { system: "#eef", user: "#efe", assistant: "#fee", tool: "#ffe" };

/** An HTML table of records: one row per record, one coloured block per message (tool calls and image paths shown). */
export function examplesTable(records: readonly ChatRecord[], options: ExamplesTableOptions = {}): string {
  const max = options.maxChars ?? 400;
  const cut = (s: string) => escapeHtml(s.length > max ? s.slice(0, max) + "…" : s);
  const rows = records.slice(0, options.limit ?? 10).map((r, k) => {
    const blocks =
      r.text !== undefined && r.messages.length === 0
        ? [`<div style="background:#f4f4f4;padding:4px;margin:2px;white-space:pre-wrap"><b>text</b>: ${cut(r.text)}</div>`]
        : r.messages.map((m) => {
            const parts = [cut(messageText(m))];
            for (const im of messageImages(m)) parts.unshift(`<i>[image ${escapeHtml(im.path ?? im.url ?? "")}]</i>`);
            for (const c of m.tool_calls ?? []) parts.push(`<code>${escapeHtml(c.function.name)}(${cut(JSON.stringify(c.function.arguments))})</code>`);
            return `<div style="background:${ROLE_COLOURS[m.role] ?? "#fff"};padding:4px;margin:2px;white-space:pre-wrap"><b>${m.role}</b>: ${parts.join(" ")}</div>`;
          });
    const tools = r.tools?.length ? `<div style="color:#666">tools: ${r.tools.map((t) => escapeHtml(t.function.name)).join(", ")}</div>` : "";
    return `<tr><td style="vertical-align:top">${k + 1}</td><td style="text-align:left">${blocks.join("")}${tools}</td></tr>`;
  });
  return `<table style="border-collapse:collapse;font-family:sans-serif;font-size:13px"><thead><tr><th>#</th><th style="text-align:left">messages</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** HTML of a tokenized record with trained tokens highlighted (to check a loss mask by eye). */
export function maskHtml(pieces: readonly string[], mask: ReadonlyArray<0 | 1>): string {
  const spans = pieces.map((p, i) => {
    const style = mask[i] ? "background:#fdd;border-bottom:2px solid #c0392b" : "color:#555";
    return `<span style="${style}" title="${i}">${escapeHtml(p).replace(/\n/g, "↵<br>")}</span>`;
  });
  return `<div style="font-family:monospace;font-size:12px;line-height:1.6">${spans.join("")}</div>`;
}
