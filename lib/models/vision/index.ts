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
