// The display helpers outside a kernel (the text fallback the CLI sees) and their HTML renderings.
// Inside a kernel they are exercised by test/notebooks/run.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import pl from "nodejs-polars";
import sharp from "sharp";
import {
  formatCell,
  formatPlotText,
  formatTableHtml,
  formatTableText,
  inNotebook,
  plotHtml,
  pngSize,
  showImage,
  showMarkdown,
  showPlot,
  showTable,
} from "../../lib/notebooks/display.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

/** Runs `fn` and returns what it wrote to stdout. */
function captureStdout(fn: () => void): string {
  const original = process.stdout.write.bind(process.stdout);
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = original;
  }
  return out;
}

test("outside a kernel the helpers print plain text to stdout", () => {
  assert.equal(inNotebook(), false);
  const table = captureStdout(() =>
    showTable(
      [
        { name: "a", n: 1.5 },
        { name: "bb", n: 10 },
      ],
      { title: "T" },
    ),
  );
  assert.equal(table, ["T", "name    n", "----  ---", "a     1.5", "bb     10", ""].join("\n"));
  assert.equal(
    captureStdout(() => showMarkdown("**hi**")),
    "**hi**\n",
  );
  const plot = captureStdout(() =>
    showPlot({
      data: [{ type: "scatter", name: "loss", x: [1, 2, 3], y: [3, 2, 1] }],
      layout: { title: { text: "Loss" } },
    }),
  );
  assert.equal(plot, "[plot] Loss\n  trace 1: loss (scatter, 3 points)\n");
  const png = join(PACKAGE_ROOT, "data", "leaf-images", "rust", "01.png");
  assert.equal(
    captureStdout(() => showImage(png)),
    `[image] 01.png (64×64) ${png}\n`,
  );
});

test("tables take polars DataFrames, escape HTML, cut long cells and count hidden rows", () => {
  const df = pl.DataFrame({ q: ["<b>x</b>", "y".repeat(300)], n: [1, 2] });
  const html = formatTableHtml(df, { maxCellChars: 20 });
  assert.ok(html.includes('<td style="text-align:left">&lt;b&gt;x&lt;/b&gt;</td>'), html);
  assert.ok(html.includes("y".repeat(19) + "…"));
  assert.ok(!html.includes("<b>x</b>"));
  const text = formatTableText(
    Array.from({ length: 5 }, (_, i) => ({ i })),
    { maxRows: 2 },
  );
  assert.ok(text.endsWith("… 3 more rows (5 in all)"), text);
  assert.equal(formatCell(0.123456789), "0.1235");
  assert.equal(formatCell({ a: [1] }), '{"a":[1]}');
  assert.equal(formatCell(null), "");
  assert.equal(formatCell("a\n  b"), "a b");
});

test("pngSize reads the same width and height as sharp", async () => {
  for (const cls of ["healthy", "rust"]) {
    const file = join(PACKAGE_ROOT, "data", "leaf-images", cls, "02.png");
    const meta = await sharp(file).metadata();
    assert.deepEqual(pngSize(readFileSync(file)), { width: meta.width, height: meta.height });
  }
  assert.equal(pngSize(Buffer.from("not a png at all, clearly")), undefined);
});

test("plot HTML inlines plotly.js only when asked and cannot be closed early by the data", () => {
  const fig = { data: [{ type: "bar", x: ["</script>"], y: [1] }] };
  const withLib = plotHtml(fig, { includeLibrary: true, divId: "p1" });
  const without = plotHtml(fig, { includeLibrary: false, divId: "p2" });
  const lib = readFileSync(join(PACKAGE_ROOT, "node_modules", "plotly.js-dist-min", "plotly.min.js"), "utf8");
  assert.ok(withLib.includes(lib.slice(0, 2000)) && withLib.length > lib.length);
  assert.ok(without.length < 1000);
  assert.ok(!without.includes('</script>"]'), "a </script> inside the data must be escaped");
  assert.ok(without.includes('Plotly.newPlot("p2"'));
  assert.equal(
    formatPlotText({ data: [{ type: "pie", values: [1, 2] }] }),
    "[plot] (untitled)\n  trace 1: (pie, 2 points)",
  );
});
