export { getBackend, listDevices, defaultThreads, type Backend, type DeviceInfo } from "./backend.js";
export { Context, type ContextOptions } from "./context.js";
export { Tensor, TensorFlag } from "./tensor.js";
export { Ops, RopeMode, type RopeOptions } from "./ops.js";
export { Graph } from "./graph.js";
export { GradientState, markTrainable, buildBackward } from "./autograd.js";
export { rewriteOutProducts, rewriteQuantizedBackward } from "./backward-rewrite.js";
export { AdamW, type AdamWOptions, type StepResult } from "./optimizer.js";
export { GgmlOp } from "./op-codes.js";
export { ggmlLog } from "./ffi.js";
export { quantize, dequantize, fallbackType, requiresImatrix, QUANTIZE_TYPES } from "./quant.js";
export {
  FrozenWeights,
  supportsMulMat,
  type FrozenWeight,
  type FrozenWeightOptions,
  type FrozenWeightsOptions,
  type ExtraBufferChoice,
  type TransposedChoice,
} from "./weights.js";
