// What 06-training shows about a run: the metrics the trainer appends to metrics.jsonl (train and
// eval rows), a plotly loss chart of them, and the run's checkpoints.
import { existsSync, readFileSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { listCheckpoints } from "../train/checkpoint.js";
import type { EvalLogRow, TrainLogRow } from "../train/trainer.js";
import { InputError } from "../util/errors.js";
import type { PlotlyFigure } from "./display.js";

/** Rows of a run's metrics.jsonl, in file order. */
export function readMetrics(runDir: string): Array<TrainLogRow | EvalLogRow> {
  const file = join(runDir, "metrics.jsonl");
  if (!existsSync(file)) throw new InputError("no metrics.jsonl: the run has not started", { file });
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      try {
        return JSON.parse(l) as TrainLogRow | EvalLogRow;
      } catch (e) {
        throw new InputError(`not valid JSON: ${(e as Error).message}`, { file, line: i + 1 });
      }
    });
}

/** Options of {@link lossFigure}. */
export interface LossFigureOptions {
  /** Chart title (default "Loss"). */
  title?: string;
  /** Draw a dashed vertical line at this step (e.g. where a resumed run continued). */
  markStep?: { step: number; label: string };
}

/** Train loss per step and eval loss per evaluation, in nats per token. */
export function lossFigure(
  rows: ReadonlyArray<TrainLogRow | EvalLogRow>,
  options: LossFigureOptions = {},
): PlotlyFigure {
  const train = rows.filter((r): r is TrainLogRow => r.type === "train");
  const evals = rows.filter((r): r is EvalLogRow => r.type === "eval");
  const mark = options.markStep;
  return {
    data: [
      {
        type: "scatter",
        mode: "lines+markers",
        name: "train loss",
        x: train.map((r) => r.step),
        y: train.map((r) => r.loss),
      },
      {
        type: "scatter",
        mode: "lines+markers",
        name: "eval loss",
        x: evals.map((r) => r.step),
        y: evals.map((r) => r.eval_loss),
        marker: { size: 9 },
      },
    ],
    layout: {
      title: { text: options.title ?? "Loss" },
      xaxis: { title: { text: "optimizer step" } },
      yaxis: { title: { text: "loss (nats/token)" } },
      ...(mark
        ? {
            shapes: [
              {
                type: "line",
                x0: mark.step,
                x1: mark.step,
                y0: 0,
                y1: 1,
                yref: "paper",
                line: { dash: "dash", color: "#888" },
              },
            ],
            annotations: [
              { x: mark.step, y: 1, yref: "paper", text: mark.label, showarrow: false, xanchor: "left" },
            ],
          }
        : {}),
    },
  };
}

/** One checkpoint, as a table row. */
export type CheckpointRow = {
  checkpoint: string;
  step: number;
  /** Eval loss saved with the checkpoint (null when no evaluation ran at that step). */
  evalLoss: number | null;
  /** Target tokens trained on up to this checkpoint. */
  tokens: number;
  /** Size of the folder (adapter weights + AdamW moments + state), bytes. */
  bytes: number;
};

/** The run's checkpoints (the trainer keeps the last and the `keepBest` best by eval loss), oldest first. */
export function checkpointRows(runDir: string): CheckpointRow[] {
  return listCheckpoints(runDir).map((c) => {
    const meta = JSON.parse(readFileSync(join(c.dir, "state.json"), "utf8")) as {
      state: { tokens: number };
      evalLoss: number | null;
    };
    const bytes = readdirSync(c.dir).reduce((s, f) => s + statSync(join(c.dir, f)).size, 0);
    return { checkpoint: c.dir, step: c.step, evalLoss: meta.evalLoss, tokens: meta.state.tokens, bytes };
  });
}
