// Image+text fine-tuning inside the trainer (lib/train/trainer.ts calls this when the config names an
// mmproj): the vision tower is loaded next to the language model, image datasets become rows with pixels,
// the step graphs run the encoder in-graph (so vision LoRA / projector / full vision training get
// gradients), and the run writes a new mmproj.gguf beside the language model's usual outputs.
import { join } from "node:path";
import { InputError } from "../util/errors.js";
import type { Model } from "../models/model.js";
import { VisionModel, preprocessImage } from "../models/vision/index.js";
import type { TrainConfig } from "../train/config.js";
import type { StepVision } from "../train/step-graph.js";
import type { Trainable } from "../train/trainable.js";
import { plainLinear } from "../models/decoder.js";
import { loadImageRows, type ImageRows } from "./rows.js";
import { gemma3ImageSpec, splitVisionTargets, VisionTrainer } from "./vision.js";

/** The multimodal side of a training run. */
export interface MultimodalRun {
  /** The `--target` items that are for the language model ("" when every item was a vision layer). */
  languageTarget: string;
  /** Reads a prepared image dataset into rows with pixels. */
  loadRows(path: string): Promise<ImageRows>;
  /** The encoder for the step graphs (images per micro-batch = batch × most images in a row). */
  stepVision(batch: number): StepVision;
  /** The language model's trainable plus the vision tower's: params, checkpoints and outputs (mmproj.gguf). */
  wrap(language: Trainable): Trainable;
  free(): void;
}

/** A trainable with nothing to train (vision-only runs). */
export function emptyTrainable(): Trainable {
  return {
    params: () => [],
    parameterCount: 0,
    linear: () => plainLinear,
    snapshot: () => [],
    restore: () => undefined,
    afterUpdate: () => undefined,
    saveOutputs: async () => "",
    free: () => undefined,
  } as Trainable;
}

/** Opens the mmproj named by the config for training with `model`. */
export function openMultimodal(cfg: TrainConfig, model: Model): MultimodalRun {
  const path = cfg.mmproj!;
  const vision = VisionModel.load(path, { trainable: true });
  try {
    const c = vision.config;
    if (c.projectionDim !== model.config.nEmbd)
      throw new InputError(
        `the mmproj projects to ${c.projectionDim} dimensions, the language model's n_embd is ${model.config.nEmbd}`,
        { file: path },
      );
    const full = cfg.method === "full";
    const split = splitVisionTargets(cfg.target, c, model.config.nLayer);
    const trainer = new VisionTrainer(vision, {
      loraLayers: full ? [] : split.vision,
      r: cfg.loraR,
      alpha: cfg.loraAlpha,
      dropout: cfg.loraDropout,
      rslora: cfg.rslora,
      full,
      projector: cfg.trainProjector,
      seed: cfg.seed,
    });
    let maxImagesPerRow = 1;
    const spec = gemma3ImageSpec(c);
    return {
      languageTarget: split.language.join(","),
      async loadRows(p) {
        const rows = await loadImageRows(p, model, {
          maxSeq: cfg.maxSeq,
          trainOn: cfg.trainOn,
          image: spec,
          pixels: (input) => preprocessImage(input, c),
        });
        maxImagesPerRow = Math.max(maxImagesPerRow, rows.maxImagesPerRow);
        return rows;
      },
      stepVision: (batch) => trainer.stepVision(batch * maxImagesPerRow),
      wrap(language) {
        const nLanguage = () => language.params().length;
        return {
          ...language,
          params: () => [...language.params(), ...trainer.params()],
          parameterCount: language.parameterCount + trainer.parameterCount,
          snapshot: () => [...language.snapshot(), ...trainer.snapshot()],
          restore: (v) => {
            language.restore(v.slice(0, nLanguage()));
            trainer.restore(v.slice(nLanguage()));
          },
          async saveOutputs(runDir, m, base) {
            const main = language.params().length ? await language.saveOutputs(runDir, m, base) : "";
            const mmproj = join(runDir, "mmproj.gguf");
            // always written: the run's vision tower, trained or not, next to the language model's result
            await trainer.saveMmproj(mmproj);
            return main || mmproj;
          },
          free: () => language.free(),
        };
      },
      free() {
        trainer.free();
        vision.dispose();
      },
    };
  } catch (e) {
    vision.dispose();
    throw e;
  }
}
