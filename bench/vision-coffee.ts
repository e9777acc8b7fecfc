// The image-question experiment on the coffee-leaf photos (../shared/data/images/coffee-leaf, 5 classes,
// 100 photos): a tiny random Gemma 3 LM + tiny SigLIP tower fine-tuned in full on 70 % of the photos
// (augmented), evaluated on the 30 % it never trained on, before and after. Prints the confusion matrices
// and writes result.json in the work folder.
// Usage: npx tsx bench/vision-coffee.ts [--steps N] [--image-size S] [--patch P] [--merge K] [--augment C] [--lr X]
//                                        [--max-seq N] [--weight-decay W] [--no-mirror] [--seed N] [--threads T]
//                                        [--out DIR] [--images DIR]
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
const workDir = opt("--out", join(tmpdir(), "tunekit-vision-coffee"));
const t0 = performance.now();
const r = await runImageExperiment({
  images,
  workDir,
  steps: Number(opt("--steps", "400")),
  imageSize: Number(opt("--image-size", "128")),
  patchSize: Number(opt("--patch", "16")),
  mergeFactor: Number(opt("--merge", "2")),
  augmentCopies: Number(opt("--augment", "2")),
  lr: Number(opt("--lr", "3e-3")),
  weightDecay: Number(opt("--weight-decay", "0")),
  maxSeq: Number(opt("--max-seq", "80")),
  mirror: !args.includes("--no-mirror"),
  seed: Number(opt("--seed", "1")),
  threads: Number(opt("--threads", "1")),
  events: {
    onLog: (row) =>
      console.error(`step ${row.step} loss ${row.loss.toFixed(3)} (${row.tokens_per_s.toFixed(0)} tokens/s)`),
  },
});
const seconds = (performance.now() - t0) / 1000;
console.log(
  `held-out photos: ${r.evalImages}, training records: ${r.trainImages}, classes: ${r.classes.length}`,
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
