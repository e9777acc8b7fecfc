// The image-question experiment on the coffee-leaf photos (../shared/data/images/coffee-leaf, 5 classes,
// 100 photos): a tiny random Gemma 3 LM + tiny SigLIP tower fine-tuned in full on 70 % of the photos
// (stratified: 14 per class; 16 random views of each), evaluated on the 30 % it never trained on, before
// and after, for each seed (a seed is another split, other weights and other views). Prints the confusion
// matrices and the mean, and writes result.json in each seed's work folder.
// Usage: npx tsx bench/vision-coffee.ts [--seeds 1,2,3] [--steps N] [--image-size S] [--patch P] [--merge K]
//          [--views V] [--no-square] [--no-stratify] [--augment C] [--mirror] [--lr X] [--max-seq N]
//          [--weight-decay W] [--eval-every N] [--threads T] [--out DIR] [--images DIR]
import { join } from "node:path";
import { tmpdir } from "node:os";
import { writeFileSync } from "node:fs";
import { sharedDir } from "../lib/util/paths.js";
import { runImageExperiment } from "../lib/multimodal/experiment.js";
import { confusionTable } from "../lib/multimodal/image-eval.js";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const shared = sharedDir();
const images = opt("--images", shared ? join(shared, "data", "images", "coffee-leaf") : "");
if (!images) {
  console.error("../shared is absent: pass --images DIR (a labelled image folder)");
  process.exit(2);
}
const outRoot = opt("--out", join(tmpdir(), "tunekit-vision-coffee"));
const seeds = opt("--seeds", opt("--seed", "1,2,3")).split(",").map(Number);
const summary: Array<{ seed: number; accuracy: number; seconds: number }> = [];
for (const seed of seeds) {
  const workDir = seeds.length > 1 ? join(outRoot, `seed-${seed}`) : outRoot;
  const t0 = performance.now();
  const r = await runImageExperiment({
    images,
    workDir,
    steps: Number(opt("--steps", "1200")),
    imageSize: Number(opt("--image-size", "128")),
    patchSize: Number(opt("--patch", "8")),
    mergeFactor: Number(opt("--merge", "4")),
    augmentCopies: Number(opt("--augment", "0")),
    lr: Number(opt("--lr", "3e-3")),
    weightDecay: Number(opt("--weight-decay", "0")),
    maxSeq: Number(opt("--max-seq", "80")),
    mirror: args.includes("--mirror"),
    views: Number(opt("--views", "16")),
    square: !args.includes("--no-square"),
    stratify: !args.includes("--no-stratify"),
    evalEvery: Number(opt("--eval-every", "0")),
    seed,
    threads: Number(opt("--threads", "1")),
    events: {
      onEval: (row) => console.error(`step ${row.step} held-out loss ${row.eval_loss.toFixed(3)}`),
      onLog: (row) =>
        console.error(
          `step ${row.step} loss ${row.loss.toFixed(3)} (${row.tokens_per_s.toFixed(0)} tokens/s)`,
        ),
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `\nseed ${seed}: held-out photos: ${r.evalImages}, training records: ${r.trainImages}, classes: ${r.classes.length}; ` +
      `photos shared by the splits (content hash): ${r.leakCheck.shared} of ${r.leakCheck.evalPhotos}`,
  );
  console.log(`\nbefore training\n${confusionTable(r.before)}\n\nafter training\n${confusionTable(r.after)}`);
  console.log(
    `\ntraining ${r.trainSeconds.toFixed(0)} s, whole run ${seconds.toFixed(0)} s; work folder ${workDir}`,
  );
  writeFileSync(
    join(workDir, "result.json"),
    JSON.stringify(
      { before: r.before, after: r.after, predictions: r.predictions, trainSeconds: r.trainSeconds, seconds },
      null,
      2,
    ),
  );
  summary.push({ seed, accuracy: r.after.accuracy, seconds });
}
if (seeds.length > 1) {
  const mean = summary.reduce((a, s) => a + s.accuracy, 0) / summary.length;
  console.log(
    `\nheld-out accuracy per seed: ${summary.map((s) => `seed ${s.seed} ${(100 * s.accuracy).toFixed(1)} %`).join(", ")}; mean ${(100 * mean).toFixed(1)} %`,
  );
}
