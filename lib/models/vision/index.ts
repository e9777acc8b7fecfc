// Gemma 3 vision (SigLIP ViT + gemma3 projector): config, graph, weights, mmproj files, preprocessing.
// See /work/notes/vision-api.md for the layouts. MobileNet-V5 (Gemma 3n) lives in mobilenetv5*.ts.
export {
  nImageTokens,
  nPatches,
  patchesPerSide,
  readSiglipConfig,
  siglipMetadata,
  siglipTensorSpecs,
  tokensPerSide,
  validateSiglipConfig,
  visionLinearNames,
  type SiglipVisionConfig,
} from "./siglip-config.js";
export { buildSiglipVision, visionNodesEstimate, type SiglipInputs } from "./siglip.js";
export { VisionWeights, type VisionLoadOptions, type VisionTensorData } from "./vision-weights.js";
export {
  VisionModel,
  encodeImages,
  randomMmproj,
  saveMmproj,
  type RandomMmprojOptions,
  type SaveMmprojOptions,
} from "./mmproj.js";
export {
  decodeRgb,
  fitToSquare,
  preprocessImage,
  preprocessRgb,
  resizeBilinear,
  type PreprocessConfig,
  type PreprocessOptions,
} from "./preprocess.js";
// Gemma 3n vision (MobileNet-V5 + gemma3n projector), projector type "gemma3nv".
export {
  GEMMA3NV,
  MNV5,
  discoverBlocks,
  fusedSide,
  nImageTokens as mobileNetV5ImageTokens,
  readMobileNetV5Config,
  validateMobileNetV5Config,
  type MobileNetV5Block,
  type MobileNetV5Config,
} from "./mobilenetv5-config.js";
export { buildMobileNetV5, type MobileNetV5Inputs, type VisionTensors } from "./mobilenetv5.js";
export { buildGemma3nProjector, GEMMA3N_PROJECTOR_LINEAR } from "./gemma3n-projector.js";
export {
  MobileNetV5Model,
  MobileNetV5Weights,
  mobileNetV5Metadata,
  saveMobileNetV5Mmproj,
  visionNodesEstimate as mobileNetV5NodesEstimate,
  writeRandomGemma3nMmproj,
  type EncodeOptions,
  type RandomGemma3nMmproj,
} from "./mobilenetv5-model.js";
export {
  randomMobileNetV5Mmproj,
  tinyMobileNetV5Arch,
  type BlockDef,
  type MobileNetV5Arch,
  type RandomMobileNetV5Options,
  type VisionTensorBytes,
} from "./mobilenetv5-random.js";
export {
  gemma3nVisionLinearNames,
  checkGemma3nVisionTargets,
  openGemma3nImageEncoder,
  type Gemma3nImageEncoder,
} from "./mobilenetv5-encoder.js";
export { Gemma3nVisionTrainer, type Gemma3nVisionTrainOptions } from "./mobilenetv5-train.js";
export { buildMobileNetV5Trainable, mobileNetV5LinearNames } from "./mobilenetv5-trainable.js";
export { convertGemma3nVisionHf, gemma3nVisionGgufName } from "./mobilenetv5-hf.js";
