// Plotly figure objects ({data, layout}) for comparisons and eval reports, and a self-contained HTML
// page that renders them (plotly.js inlined from plotly.js-dist-min, so it works offline).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** A plotly figure as plain JSON. */
export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

/** A bar chart of one value per label. */
export function barFigure(
  title: string,
  labels: readonly string[],
  values: ReadonlyArray<number | null | undefined>,
  yTitle: string,
): PlotlyFigure {
  return {
    data: [
      {
        type: "bar",
        x: [...labels],
        y: values.map((v) => (v === undefined || v === null || !Number.isFinite(v) ? null : v)),
        text: values.map((v) =>
          v === undefined || v === null || !Number.isFinite(v) ? "" : Number(v.toPrecision(4)).toString(),
        ),
        textposition: "auto",
      },
    ],
    layout: {
      title: { text: title },
      yaxis: { title: { text: yTitle } },
      xaxis: { type: "category" },
      margin: { t: 50 },
    },
  };
}

/** Grouped bars: one group per metric, one bar per series (e.g. runs). */
export function groupedBarFigure(
  title: string,
  metrics: readonly string[],
  series: ReadonlyArray<{ name: string; values: ReadonlyArray<number | null> }>,
): PlotlyFigure {
  return {
    data: series.map((s) => ({ type: "bar", name: s.name, x: [...metrics], y: [...s.values] })),
    layout: { title: { text: title }, barmode: "group", xaxis: { type: "category" }, margin: { t: 50 } },
  };
}

/**
 * A confusion-matrix heatmap: rows the reference class, columns the predicted class, each cell annotated
 * with its count (and coloured by the row's share, so rare classes read as clearly as common ones).
 */
export function confusionMatrixFigure(
  report: { labels: readonly string[]; matrix: readonly (readonly number[])[]; accuracy?: number },
  title = "Confusion matrix",
): PlotlyFigure {
  const shares = report.matrix.map((row) => {
    const n = row.reduce((s, v) => s + v, 0);
    return row.map((v) => (n ? v / n : 0));
  });
  const labels = [...report.labels];
  const annotations = report.matrix.flatMap((row, i) =>
    row.map((v, j) => ({
      x: labels[j],
      y: labels[i],
      text: String(v),
      showarrow: false,
      font: { color: shares[i]![j]! > 0.5 ? "white" : "black" },
    })),
  );
  const suffix = report.accuracy === undefined ? "" : ` (accuracy ${(100 * report.accuracy).toFixed(1)}%)`;
  return {
    data: [
      {
        type: "heatmap",
        x: labels,
        y: labels,
        z: shares,
        zmin: 0,
        zmax: 1,
        colorscale: "Blues",
        colorbar: { title: { text: "share of row" } },
        hovertemplate: "reference %{y}<br>predicted %{x}<br>share %{z:.2f}<extra></extra>",
      },
    ],
    layout: {
      title: { text: title + suffix },
      xaxis: { title: { text: "predicted" }, type: "category" },
      yaxis: { title: { text: "reference" }, type: "category", autorange: "reversed" },
      annotations,
      margin: { t: 50, l: 160 },
    },
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** A standalone HTML page showing the figures. */
export function figuresHtml(title: string, figures: Record<string, PlotlyFigure>): string {
  const plotly = readFileSync(createRequire(import.meta.url).resolve("plotly.js-dist-min"), "utf8");
  const divs = Object.keys(figures)
    .map((k, i) => `<div id="fig${i}" style="width:900px;height:420px"></div>`)
    .join("\n");
  const calls = Object.values(figures)
    .map((f, i) => `Plotly.newPlot("fig${i}", ${JSON.stringify(f.data)}, ${JSON.stringify(f.layout)});`)
    .join("\n");
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>\n<script>${plotly.replace(/<\/script/gi, "<\\/script")}</script></head>\n<body><h1>${escapeHtml(title)}</h1>\n${divs}\n<script>\n${calls.replace(/<\/script/gi, "<\\/script")}\n</script></body></html>\n`;
}
