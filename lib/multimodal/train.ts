// Image+text fine-tuning inside the trainer (lib/train/trainer.ts calls this when the config names an
// mmproj): the vision tower is loaded next to the language model, image datasets become rows with pixels,
// the step graphs run the encoder in-graph (so vision LoRA / projector / full vision training get
// gradients), and the run writes a new mmproj.gguf beside the language model's usual outputs.
import { join } from "node:path";
import { InputError } from "../util/errors.js";
import type { Model } from "../models/model.js";
import { VisionModel } from "../models/vision/mmproj.js";
import { preprocessImage } from "../models/vision/preprocess.js";
import { MobileNetV5Model } from "../models/vision/mobilenetv5-model.js";
import { nImageTokens as mobileNetV5ImageTokens } from "../models/vision/mobilenetv5-config.js";
import { Gemma3nVisionTrainer } from "../models/vision/mobilenetv5-train.js";
import type { Tensor } from "../engine/tensor.js";
import type { ImageTokenSpec } from "./tokenize.js";
import type { TrainConfig } from "../train/config.js";
import type { StepVision } from "../train/step-graph.js";
import type { Trainable } from "../train/trainable.js";
import { plainLinear } from "../models/decoder.js";
import { loadImageRows, type ImageRows } from "./rows.js";
import { gemma3ImageSpec, projectorType, splitVisionTargets, VisionTrainer } from "./vision.js";

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

/** What a run trains in a vision tower (VisionTrainer for Gemma 3, Gemma3nVisionTrainer for Gemma 3n). */
interface TowerTrainer {
  /** Whether anything in the tower is trained. */
  readonly trains: boolean;
  params(): Tensor[];
  readonly parameterCount: number;
  stepVision(maxImages: number): StepVision;
  snapshot(): Float32Array[];
  restore(values: Float32Array[]): void;
  saveMmproj(path: string): Promise<void>;
  free(): void;
}

/** The tower of an mmproj opened for training: trainer, image layout, preprocessing, the language targets. */
function openTower(
  path: string,
  cfg: TrainConfig,
  model: Model,
): {
  trainer: TowerTrainer;
  spec: ImageTokenSpec;
  pixels: (input: string | Uint8Array) => Promise<Float32Array>;
  languageTarget: string;
  dispose(): void;
} {
  const full = cfg.method === "full";
  const lora = {
    r: cfg.loraR,
    alpha: cfg.loraAlpha,
    dropout: cfg.loraDropout,
    rslora: cfg.rslora,
    full,
    projector: cfg.trainProjector,
    seed: cfg.seed,
  };
  const checkWidth = (dim: number) => {
    if (dim !== model.config.nEmbd)
      throw new InputError(
        `the mmproj projects to ${dim} dimensions, the language model's n_embd is ${model.config.nEmbd}`,
        { file: path },
      );
  };
  if (projectorType(path) === "gemma3nv") {
    // Gemma 3n (MobileNet-V5): only the projector can be trained (lib/models/vision/mobilenetv5-train.ts)
    const tower = MobileNetV5Model.load(path);
    try {
      checkWidth(tower.config.projectionDim);
      const items = cfg.target.startsWith("/")
        ? [cfg.target]
        : cfg.target
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
      const isVision = (t: string) => t === "vision" || t.startsWith("v.") || t.startsWith("mm.");
      const trainer = new Gemma3nVisionTrainer(tower, {
        ...lora,
        loraLayers: full ? [] : items.filter(isVision),
      });
      return {
        trainer,
        spec: {
          begin: "<start_of_image>",
          end: "<end_of_image>",
          tokensPerImage: mobileNetV5ImageTokens(tower.config),
          slotId: 0,
        },
        pixels: (input) => preprocessImage(input, tower.config),
        languageTarget: items.filter((t) => !isVision(t)).join(","),
        dispose: () => tower.dispose(),
      };
    } catch (e) {
      tower.dispose();
      throw e;
    }
  }
  const vision = VisionModel.load(path, { trainable: true });
  try {
    const c = vision.config;
    checkWidth(c.projectionDim);
    const split = splitVisionTargets(cfg.target, c, model.config.nLayer);
    return {
      trainer: new VisionTrainer(vision, { ...lora, loraLayers: full ? [] : split.vision }),
      spec: gemma3ImageSpec(c),
      pixels: (input) => preprocessImage(input, c),
      languageTarget: split.language.join(","),
      dispose: () => vision.dispose(),
    };
  } catch (e) {
    vision.dispose();
    throw e;
  }
}

/** Opens the mmproj named by the config for training with `model`. */
export function openMultimodal(cfg: TrainConfig, model: Model): MultimodalRun {
  const tower = openTower(cfg.mmproj!, cfg, model);
  try {
    const { trainer, spec } = tower;
    let maxImagesPerRow = 1;
    return {
      languageTarget: tower.languageTarget,
      async loadRows(p) {
        const rows = await loadImageRows(p, model, {
          maxSeq: cfg.maxSeq,
          trainOn: cfg.trainOn,
          image: spec,
          pixels: tower.pixels,
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
        tower.dispose();
      },
    };
  } catch (e) {
    tower.trainer.free();
    tower.dispose();
    throw e;
  }
}
