// Notebooks are written as readable TypeScript sources (notebooks/src/NN-name.ts) and committed as
// generated .ipynb files for the tslab kernel. The source format ("percent" cells, as in jupytext):
//
//   // %% optional title            ← starts a code cell (the title is not part of the cell)
//   const x = 1;
//   // %% [markdown]                ← starts a markdown cell; each following line is a // comment
//   // # Heading
//   // Some *text*.
//
// Comment lines before the first marker are the file's header (what the source is) and are not part
// of the notebook. Blank lines at the start and end of a cell are dropped.
import { InputError } from "../util/errors.js";

/** One notebook cell. */
export interface NotebookCell {
  type: "code" | "markdown";
  /** The cell's text without a trailing newline. */
  text: string;
  /** 1-based line of the cell's marker in the source (for messages). */
  line: number;
}

const MARKER = /^\/\/ ?%%(.*)$/;

/** Splits a notebook source into cells. `file` only names the source in errors. */
export function parseNotebookSource(source: string, file: string): NotebookCell[] {
  const lines = source.replace(/\r\n/g, "\n").split("\n");
  const cells: NotebookCell[] = [];
  let current: { type: NotebookCell["type"]; line: number; body: string[] } | undefined;
  const flush = () => {
    if (!current) return;
    const body = [...current.body];
    while (body.length && body[0]!.trim() === "") body.shift();
    while (body.length && body[body.length - 1]!.trim() === "") body.pop();
    if (body.length === 0) throw new InputError("empty cell", { file, line: current.line });
    cells.push({ type: current.type, text: body.join("\n"), line: current.line });
  };
  lines.forEach((raw, i) => {
    const line = i + 1;
    const marker = MARKER.exec(raw);
    if (marker) {
      flush();
      const rest = marker[1]!.trim();
      current = { type: rest.startsWith("[markdown]") ? "markdown" : "code", line, body: [] };
      return;
    }
    if (!current) {
      if (raw.trim() === "" || raw.trimStart().startsWith("//")) return; // the file's header
      throw new InputError('code before the first "// %%" cell marker', { file, line });
    }
    if (current.type === "markdown") {
      if (raw.trim() === "") current.body.push("");
      else if (raw.startsWith("//")) current.body.push(raw.replace(/^\/\/ ?/, ""));
      else throw new InputError('a markdown cell holds only "//" comment lines', { file, line });
    } else current.body.push(raw);
  });
  flush();
  if (cells.length === 0) throw new InputError('no cells (cells start with a "// %%" line)', { file });
  return cells;
}

/** Jupyter's `source` field: the text split into lines, each but the last ending in "\n". */
function sourceLines(text: string): string[] {
  const parts = text.split("\n");
  return parts.map((p, i) => (i < parts.length - 1 ? p + "\n" : p));
}

/** Options of {@link buildNotebook}. */
export interface BuildNotebookOptions {
  /** Notebook name without extension ("01-setup"); used for stable cell ids. */
  name: string;
  /** The source's path relative to the repository, recorded in the notebook's metadata. */
  sourcePath: string;
}

/**
 * The .ipynb text (nbformat 4.5, Jupyter's one-space JSON indentation, trailing newline) for the
 * cells: kernel `tslab` (TypeScript), no outputs, stable cell ids. The same cells always give the
 * same bytes, which is what the up-to-date test compares.
 */
export function buildNotebook(cells: NotebookCell[], options: BuildNotebookOptions): string {
  const nb = {
    cells: cells.map((c, i) => {
      const id = `${options.name}-${String(i + 1).padStart(2, "0")}`
        .replace(/[^A-Za-z0-9_-]/g, "-")
        .slice(0, 64);
      return c.type === "markdown"
        ? { cell_type: "markdown", id, metadata: {}, source: sourceLines(c.text) }
        : {
            cell_type: "code",
            execution_count: null,
            id,
            metadata: {},
            outputs: [],
            source: sourceLines(c.text),
          };
    }),
    metadata: {
      kernelspec: { display_name: "TypeScript", language: "typescript", name: "tslab" },
      language_info: {
        codemirror_mode: { mode: "typescript", name: "javascript", typescript: true },
        file_extension: ".ts",
        mimetype: "text/typescript",
        name: "typescript",
      },
      tunekit: {
        generated_from: options.sourcePath,
        edit: "edit the source, then run: npx tsx scripts/build-notebooks.ts",
      },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  return JSON.stringify(nb, null, 1) + "\n";
}
