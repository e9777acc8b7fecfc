// The image-question experiment end to end on tunekit alone: a labelled image folder → prepared image
// questions (held-out split never trained on) → a tiny random Gemma 3 (text) + tiny SigLIP tower (vision)
// → fine-tuning of vision + projector + language model → held-out accuracy and confusion matrix, before
// and after. Used by bench/vision-coffee.ts, its test and the 08-vision notebook.
import { join } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, extname } from "node:path";
import sharp from "sharp";
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
  /** Patch side (default 16). */
  patchSize?: number;
  /** Pooling window (default 2: (128/16/2)² = 16 soft tokens). */
  mergeFactor?: number;
  /** Augmented copies per training image (the data layer's CaficulBot augmentation; default 2). */
  augmentCopies?: number;
  /** Optimizer steps (default 400). */
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
   * orientation, and from random weights the encoder needs the extra views to generalise. Default true.
   */
  mirror?: boolean;
  /** AdamW weight decay (default 0). */
  weightDecay?: number;
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
    seed,
    imageQuestion: o.question ?? DEFAULT_IMAGE_QUESTION,
    labelText: o.labelText ?? COFFEE_LEAF_ANSWERS,
    ...((o.augmentCopies ?? 2) ? { augment: { "*": o.augmentCopies ?? 2 } } : {}),
  });
  if (o.mirror ?? true) await addMirroredCopies(join(dataDir, "train.jsonl"), seed);
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
    imageSize: o.imageSize ?? 128,
    patchSize: o.patchSize ?? 16,
    mergeFactor: o.mergeFactor ?? 2,
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
    maxSteps: o.steps ?? 400,
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

/** Appends mirrored copies of every training record's images to train.jsonl (images/mirrored/), shuffled in. */
async function addMirroredCopies(trainFile: string, seed: number): Promise<void> {
  const base = dirname(trainFile);
  const records = readFileSync(trainFile, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ChatRecord);
  mkdirSync(join(base, "images", "mirrored"), { recursive: true });
  const out: ChatRecord[] = [...records];
  for (const [k, r] of records.entries())
    for (const [tag, flip, flop] of [
      ["h", false, true],
      ["v", true, false],
      ["hv", true, true],
    ] as const) {
      const copy = await Promise.all(
        imagePathsOf(r).map(async (p) => {
          const rel = `images/mirrored/${k}-${tag}-${basename(p, extname(p))}.png`;
          let img = sharp(join(base, p));
          if (flip) img = img.flip();
          if (flop) img = img.flop();
          await img.png().toFile(join(base, rel));
          return [p, rel] as const;
        }),
      );
      const rename = new Map(copy);
      out.push(mapImagePaths(r, (p) => rename.get(p) ?? p));
    }
  const shuffled = new SeededRandom(seed + 17).shuffle(out);
  writeFileAtomic(trainFile, shuffled.map((r) => JSON.stringify(r)).join("\n") + "\n");
}
