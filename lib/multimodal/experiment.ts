// The image-question experiment end to end on tunekit alone: a labelled image folder → prepared image
// questions (a stratified held-out split never trained on, in any augmented form) → random views of each
// training photo → a tiny random Gemma 3 (text) + tiny SigLIP tower (vision) → fine-tuning of vision +
// projector + language model → held-out accuracy and confusion matrix, before and after. Used by
// bench/vision-coffee.ts, its test and the 08-vision notebook.
import { join } from "node:path";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, extname } from "node:path";
import sharp, { type Sharp } from "sharp";
import { writeFileAtomic } from "../util/atomic.js";
import { SeededRandom } from "../data/random.js";
import type { ChatRecord } from "../data/record.js";
import { imagePathsOf, mapImagePaths } from "../data/images/materialize.js";
import { prepareDataset } from "../data/prepare.js";
import { newModelGguf } from "../models/new-model.js";
import { Model } from "../models/model.js";
import { VisionModel, randomMmproj, saveMmproj } from "../models/vision/index.js";
import { resolveTrainConfig } from "../train/config.js";
import { train, type TrainEvents, type TrainResult } from "../train/trainer.js";
import { DEFAULT_MODEL } from "../pipeline/default-model.js";
import type { ClassificationReport } from "../eval/metrics/classification.js";
import { evalImageQuestions, type ImagePrediction } from "./image-eval.js";
import { modelRender } from "./rows.js";
import { siglipEncoder } from "./vision.js";
import { mergeAdapter } from "../export/merge.js";

/** Options of {@link runImageExperiment}. */
export interface ImageExperimentOptions {
  /** Labelled image folder (e.g. ../shared/data/images/coffee-leaf). */
  images: string;
  /** Work folder (data, models, run). */
  workDir: string;
  /** Share of images held out (default 0.3). */
  evalFraction?: number;
  /** Image side in pixels (default 128). */
  imageSize?: number;
  /** Patch side (default 8: small lesions need small patches). */
  patchSize?: number;
  /** Pooling window (default 4: (128/8/4)² = 16 soft tokens). */
  mergeFactor?: number;
  /** Colour-augmented copies per training image (the data layer's CaficulBot augmentation; default 0). */
  augmentCopies?: number;
  /** Optimizer steps (default 1200). */
  steps?: number;
  /** Micro-batch (default 8). */
  batch?: number;
  /** Peak learning rate (default 3e-3). */
  lr?: number;
  /** "full" (default: every tensor of both towers) or "lora" (target "all-linear,vision" + projector). */
  method?: "full" | "lora";
  /** Seed of data split, weights and training (default 1). */
  seed?: number;
  /** CPU threads for training (0: default). */
  threads?: number;
  /** Question asked about every image. */
  question?: string;
  /** Answer text per class (default: the class names shortened as in COFFEE_LEAF_ANSWERS when they match). */
  labelText?: Record<string, string>;
  /** Tokens per training row (default 80). */
  maxSeq?: number;
  /**
   * Add mirrored copies of every training image (left-right, top-bottom, both): a leaf has no canonical
   * orientation. Default false (the random views flip already).
   */
  mirror?: boolean;
  /** AdamW weight decay (default 0). */
  weightDecay?: number;
  /** Hold out the same share of every class (default true). */
  stratify?: boolean;
  /**
   * Random views per training photo (default 16): a random crop (0.8–1 of the side each way), random
   * left-right and top-bottom flips, ±10 % brightness, each drawn afresh from the original photo.
   */
  views?: number;
  /**
   * Stretch every photo (training and held-out alike) to the tower's square before it sees it (default
   * true; false: the tower's aspect-preserving fit, which pads a 2:1 leaf photo with black to half its pixels).
   */
  square?: boolean;
  /** Held-out loss every N steps (reported only; nothing is chosen by it). Default 0: none. */
  evalEvery?: number;
  /** Trainer events (loss rows, evals). */
  events?: TrainEvents;
}

/** What the experiment measured. */
export interface ImageExperimentResult {
  trainImages: number;
  evalImages: number;
  classes: string[];
  before: ClassificationReport;
  after: ClassificationReport;
  predictions: ImagePrediction[];
  train: TrainResult;
  trainSeconds: number;
  /** Photos (by content hash) of the prepared training and held-out splits, and how many both hold (0). */
  leakCheck: { trainPhotos: number; evalPhotos: number; shared: number };
  /** Files: prepared data, run folder, trained model and mmproj. */
  dataDir: string;
  runDir: string;
  model: string;
  mmproj: string;
}

export const DEFAULT_IMAGE_QUESTION = "Which disease does this coffee leaf show?";

/** One-word answers for the coffee-leaf classes (the class decides the first answer token). */
export const COFFEE_LEAF_ANSWERS: Record<string, string> = {
  healthy: "healthy",
  rust: "rust",
  leaf_miner: "miner",
  brown_leaf_spot_phoma: "phoma",
  cercospora_leaf_spot: "cercospora",
};

export async function runImageExperiment(o: ImageExperimentOptions): Promise<ImageExperimentResult> {
  const seed = o.seed ?? 1;
  const dataDir = join(o.workDir, "data");
  mkdirSync(o.workDir, { recursive: true });
  const prepared = await prepareDataset({
    format: "images",
    input: o.images,
    outDir: dataDir,
    evalFraction: o.evalFraction ?? 0.3,
    stratify: o.stratify ?? true,
    seed,
    imageQuestion: o.question ?? DEFAULT_IMAGE_QUESTION,
    labelText: o.labelText ?? COFFEE_LEAF_ANSWERS,
    ...(o.augmentCopies ? { augment: { "*": o.augmentCopies } } : {}),
  });
  const leakCheck = disjointPhotos(dataDir);
  const imageSize = o.imageSize ?? 128;
  const square = (o.square ?? true) ? imageSize : undefined;
  const views = o.views ?? 16;
  if (views) await addRandomViews(join(dataDir, "train.jsonl"), views, seed, square);
  if (o.mirror ?? false) await addMirroredCopies(join(dataDir, "train.jsonl"), seed);
  if (square) {
    await squareImages(join(dataDir, "train.jsonl"), square);
    await squareImages(join(dataDir, "eval.jsonl"), square);
  }
  const lm = join(o.workDir, "lm.gguf");
  const dim = 64;
  await newModelGguf({
    arch: "gemma3",
    tokenizerFrom: DEFAULT_MODEL,
    dim,
    layers: 6,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    ffn: 128,
    slidingWindow: 128,
    seed,
    out: lm,
  });
  const mmproj = join(o.workDir, "mmproj.gguf");
  const tower = randomMmproj({
    textEmbd: dim,
    imageSize,
    patchSize: o.patchSize ?? 8,
    mergeFactor: o.mergeFactor ?? 4,
    nEmbd: 64,
    nFf: 128,
    nLayer: 2,
    nHead: 4,
    seed,
  });
  await saveMmproj(mmproj, tower.config, tower.tensors);

  const evalSet = join(dataDir, "eval.jsonl");
  const measure = async (model: string, vision: string) => {
    const m = Model.load(model);
    const encoder = siglipEncoder(VisionModel.load(vision), { threads: 1 });
    try {
      return await evalImageQuestions({
        model: m,
        encoder,
        render: modelRender(m),
        data: evalSet,
        maxTokens: 12,
      });
    } finally {
      encoder.dispose();
      m.dispose();
    }
  };
  const before = await measure(lm, mmproj);

  const runDir = join(o.workDir, "run");
  const method = o.method ?? "full";
  const cfg = resolveTrainConfig(undefined, {
    model: lm,
    mmproj,
    data: join(dataDir, "train.jsonl"),
    out: runDir,
    method,
    target: "all-linear,vision",
    trainProjector: method === "lora",
    loraR: 8,
    loraAlpha: 16,
    maxSteps: o.steps ?? 1200,
    batch: o.batch ?? 8,
    maxSeq: o.maxSeq ?? 80,
    lr: o.lr ?? 3e-3,
    warmup: 0.1,
    scheduler: "cosine",
    weightDecay: o.weightDecay ?? 0,
    maxGradNorm: 1,
    seed,
    threads: o.threads ?? 0,
    logEvery: 5,
    ...(o.evalEvery ? { evalData: evalSet, evalEvery: o.evalEvery } : {}),
  });
  const t0 = performance.now();
  const trained = await train(cfg, o.events ?? {});
  const trainSeconds = (performance.now() - t0) / 1000;
  const model = method === "full" ? join(runDir, "model.gguf") : lm;
  const vision = join(runDir, "mmproj.gguf");
  // LoRA runs: the language adapter is applied by merging first (eval takes a plain model)
  let evalModel = model;
  if (method === "lora") {
    evalModel = join(runDir, "merged.gguf");
    await mergeAdapter({ model: lm, adapter: join(runDir, "adapter.gguf"), out: evalModel, type: "f32" });
  }
  const after = await measure(evalModel, vision);
  return {
    leakCheck,
    trainImages: readFileSync(join(dataDir, "train.jsonl"), "utf8").trim().split("\n").length,
    evalImages: after.predictions.length,
    classes: after.report.labels,
    before: before.report,
    after: after.report,
    predictions: after.predictions,
    train: trained,
    trainSeconds,
    dataDir,
    runDir,
    model: evalModel,
    mmproj: vision,
  };
}

/**
 * Content hashes of the prepared training and held-out photos (before any view is made): a held-out photo
 * that is also a training photo (the same bytes under another name) is refused.
 */
function disjointPhotos(dataDir: string): ImageExperimentResult["leakCheck"] {
  const hashes = (file: string) =>
    new Set(
      readRecords(join(dataDir, file)).flatMap((r) =>
        imagePathsOf(r).map((p) =>
          createHash("sha256")
            .update(readFileSync(join(dataDir, p)))
            .digest("hex"),
        ),
      ),
    );
  const train = hashes("train.jsonl");
  const held = hashes("eval.jsonl");
  const shared = [...held].filter((h) => train.has(h)).length;
  if (shared) throw new Error(`${shared} held-out photos are also training photos in ${dataDir}`);
  return { trainPhotos: train.size, evalPhotos: held.size, shared };
}

function readRecords(file: string): ChatRecord[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ChatRecord);
}

/**
 * Appends `count` variants of every record of train.jsonl (but those `skip` names): each image passes through
 * `variant` and is written as images/<dir>/<record>-<variant>-<name>.png. The file is then shuffled (seeded).
 * Only train.jsonl is read, so no held-out photo is ever varied.
 */
async function appendImageVariants(
  trainFile: string,
  o: {
    dir: string;
    count: number;
    shuffleSeed: number;
    skip?: (r: ChatRecord) => boolean;
    variant: (file: string, v: number) => Promise<Sharp>;
  },
): Promise<void> {
  const base = dirname(trainFile);
  const records = readRecords(trainFile);
  mkdirSync(join(base, "images", o.dir), { recursive: true });
  const out: ChatRecord[] = [...records];
  for (const [k, r] of records.entries()) {
    if (o.skip?.(r)) continue;
    for (let v = 0; v < o.count; v++) {
      const copy = await Promise.all(
        imagePathsOf(r).map(async (p) => {
          const rel = `images/${o.dir}/${k}-${v}-${basename(p, extname(p))}.png`;
          await (await o.variant(join(base, p), v)).png().toFile(join(base, rel));
          return [p, rel] as const;
        }),
      );
      const rename = new Map(copy);
      out.push(mapImagePaths(r, (p) => rename.get(p) ?? p));
    }
  }
  const shuffled = new SeededRandom(o.shuffleSeed).shuffle(out);
  writeFileAtomic(trainFile, shuffled.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

/** Appends mirrored copies (left-right, top-bottom, both) of every training record (images/mirrored/). */
async function addMirroredCopies(trainFile: string, seed: number): Promise<void> {
  const mirrors = [
    [false, true],
    [true, false],
    [true, true],
  ] as const;
  await appendImageVariants(trainFile, {
    dir: "mirrored",
    count: mirrors.length,
    shuffleSeed: seed + 17,
    variant: async (file, v) => {
      const [flip, flop] = mirrors[v];
      let img = sharp(file);
      if (flip) img = img.flip();
      if (flop) img = img.flop();
      return img;
    },
  });
}

/**
 * Adds `views` random views of every training photo (images/views/): a random crop of 0.8–1 of the width
 * and of the height, random flips, brightness ×0.9–1.1 — each drawn from the original photo (stretched to
 * `square` × `square` when given). Records already in the file (originals, colour-augmented copies) stay.
 */
async function addRandomViews(
  trainFile: string,
  views: number,
  seed: number,
  square?: number,
): Promise<void> {
  const rng = new SeededRandom(seed * 7919 + 31);
  await appendImageVariants(trainFile, {
    dir: "views",
    count: views,
    shuffleSeed: seed + 23,
    skip: (r) => /images\/augmented\//.test(JSON.stringify(r)),
    variant: async (file) => {
      const meta = await sharp(file).metadata();
      const W = meta.width ?? 0;
      const H = meta.height ?? 0;
      const w = Math.max(1, Math.round(W * rng.uniform(0.8, 1)));
      const h = Math.max(1, Math.round(H * rng.uniform(0.8, 1)));
      const left = rng.int(W - w + 1);
      const top = rng.int(H - h + 1);
      let img = sharp(file).extract({ left, top, width: w, height: h });
      if (rng.next() < 0.5) img = img.flop();
      if (rng.next() < 0.5) img = img.flip();
      img = img.modulate({ brightness: rng.uniform(0.9, 1.1) });
      return square ? img.resize(square, square, { fit: "fill" }) : img;
    },
  });
}

/** Rewrites every image of the file's records as a size × size stretched PNG (images/square/). */
async function squareImages(file: string, size: number): Promise<void> {
  const base = dirname(file);
  mkdirSync(join(base, "images", "square"), { recursive: true });
  const done = new Map<string, string>();
  const out: ChatRecord[] = [];
  for (const r of readRecords(file)) {
    for (const p of imagePathsOf(r)) {
      if (done.has(p)) continue;
      const meta = await sharp(join(base, p)).metadata();
      if (meta.width === size && meta.height === size) {
        done.set(p, p);
        continue;
      }
      const rel = `images/square/${p
        .replace(/^images\//, "")
        .replace(/[/\\]/g, "_")
        .replace(/\.[^.]*$/, "")}.png`;
      await sharp(join(base, p)).resize(size, size, { fit: "fill" }).png().toFile(join(base, rel));
      done.set(p, rel);
    }
    out.push(mapImagePaths(r, (p) => done.get(p) ?? p));
  }
  writeFileAtomic(file, out.map((r) => JSON.stringify(r)).join("\n") + "\n");
}
