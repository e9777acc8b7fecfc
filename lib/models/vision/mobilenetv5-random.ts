// Tiny random Gemma 3n vision towers for tests and `new-model --vision`: the same block kinds and tensor names
// as google/gemma-3n's MobileNet-V5-300M (edge-residual stage 0; inverted-residual stages with depthwise
// start/mid kernels; multi-query attention with downsampled keys/values in stages 2 and 3; the fusion adapter;
// the projector), with few channels and blocks. Tensor types follow convert_hf_to_gguf.py's f16 output:
// stem f32 (forced), conv kernels f16 (depthwise kernels must be, see Ops.conv2dDepthwise), norms and layer
// scales f32, input projection f16.
import { GgmlType } from "../../gguf/ggml-types.js";
import { SeededRandom } from "../../data/random.js";
import { castF32 } from "../cast.js";
import { InputError } from "../../util/errors.js";
import {
  BLOCK_SUFFIXES,
  GEMMA3NV,
  MNV5,
  MSFA_OUTPUT_SIDE,
  discoverBlocks,
  validateMobileNetV5Config,
  type BlockTensor,
  type MobileNetV5Config,
} from "./mobilenetv5-config.js";

/** One block of a made-up architecture (timm's MobileNet-V5 block strings, simplified). */
export type BlockDef =
  /** edge residual: 3×3 conv to `mid` channels, 1×1 to `out` */
  | { kind: "edge"; mid: number; out: number }
  /** inverted residual: optional depthwise start/mid kernels (0: none), 1×1 expand to `mid` (0: none), 1×1 to `out` */
  | { kind: "uir"; dwStart: number; mid: number; dwMid: number; out: number }
  /** multi-query attention: nHead query heads of headDim, keys/values downsampled by a kvKernel depthwise conv */
  | { kind: "mqa"; nHead: number; headDim: number; kvKernel: number };

/** What a random tower looks like. */
export interface MobileNetV5Arch {
  /** Stem output channels. */
  stem: number;
  /** Blocks of each of the 4 stages; the first block of each stage downsamples (edge or uir with dwMid). */
  stages: BlockDef[][];
  /** Fusion adapter expansion width. */
  msfaMid: number;
}

/** A small architecture with every block kind, sized so a 512-pixel image takes well under a second. */
export function tinyMobileNetV5Arch(): MobileNetV5Arch {
  return {
    stem: 8,
    stages: [
      [
        { kind: "edge", mid: 24, out: 16 },
        { kind: "edge", mid: 32, out: 16 },
      ],
      [
        { kind: "uir", dwStart: 3, mid: 48, dwMid: 5, out: 24 },
        { kind: "uir", dwStart: 0, mid: 48, dwMid: 0, out: 24 },
      ],
      [
        { kind: "uir", dwStart: 5, mid: 64, dwMid: 5, out: 32 },
        { kind: "mqa", nHead: 2, headDim: 8, kvKernel: 3 },
        { kind: "uir", dwStart: 0, mid: 64, dwMid: 0, out: 32 },
      ],
      [
        { kind: "uir", dwStart: 5, mid: 96, dwMid: 5, out: 48 },
        { kind: "mqa", nHead: 4, headDim: 8, kvKernel: 3 },
        { kind: "uir", dwStart: 3, mid: 96, dwMid: 0, out: 48 },
      ],
    ],
    msfaMid: 128,
  };
}

export interface RandomMobileNetV5Options {
  /** The text model's width (clip.vision.projection_dim). */
  projectionDim: number;
  /** Vision width out of the fusion adapter; default = projectionDim (llama.cpp needs them equal, see below). */
  nEmbd?: number;
  /** Square input side; a multiple of 256 so that the stage-2 map pools to 16×16. Default 512. */
  imageSize?: number;
  /** The blocks; default tinyMobileNetV5Arch(). */
  arch?: MobileNetV5Arch;
  /** Seed of the random weights. */
  seed: number;
}

/** One tensor to write: ggml type, ne shape and bytes. */
export interface VisionTensorBytes {
  type: number;
  shape: number[];
  data: Uint8Array;
}

/**
 * A random gemma3nv tower + projector: its config and tensors (name → bytes). Note llama.cpp reports the
 * embedding width of a gemma3nv mmproj as mm.input_projection's ne[0] — the *vision* width — and mtmd refuses
 * a projector whose width differs from the text model's, so keep nEmbd = projectionDim for files it must load.
 */
export function randomMobileNetV5Mmproj(o: RandomMobileNetV5Options): {
  config: MobileNetV5Config;
  tensors: Map<string, VisionTensorBytes>;
} {
  const arch = o.arch ?? tinyMobileNetV5Arch();
  const nEmbd = o.nEmbd ?? o.projectionDim;
  const imageSize = o.imageSize ?? 512;
  if (!Number.isSafeInteger(imageSize) || imageSize < 256 || imageSize % 256 !== 0)
    throw new InputError(`image size ${imageSize} must be a multiple of 256`, { field: "imageSize" });
  if (arch.stages.length !== 4) throw new InputError("a MobileNet-V5 tower has 4 stages");
  const tensors = new Map<string, VisionTensorBytes>();
  const add = (name: string, type: number, shape: number[], mean: number, std: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const rnd = normal(o.seed, name);
    const v = Float32Array.from({ length: n }, () => mean + std * rnd());
    tensors.set(name, { type, shape, data: castF32(v, type) });
  };
  const conv = (name: string, k: number, cin: number, cout: number, type: number = GgmlType.F16) =>
    add(name, type, [k, k, cin, cout], 0, Math.sqrt(2 / (k * k * cin)));
  const dw = (name: string, k: number, c: number) =>
    add(name, GgmlType.F16, [k, k, 1, c], 0, Math.sqrt(2 / (k * k)));
  const norm = (name: string, c: number) => add(name, GgmlType.F32, [c], 1, 0.1);

  conv(MNV5.stemConv, 3, 3, arch.stem, GgmlType.F32);
  add(MNV5.stemBias, GgmlType.F32, [1, 1, arch.stem, 1], 0, 0.1);
  norm(MNV5.stemNorm, arch.stem);
  let ch = arch.stem;
  const fused: number[] = [];
  arch.stages.forEach((blocks, s) =>
    blocks.forEach((b, i) => {
      const t = (k: BlockTensor) => `v.blk.${s}.${i}.${BLOCK_SUFFIXES[k]}`;
      const layerScale = (c: number) => add(t("layerScale"), GgmlType.F32, [1, 1, c, 1], 0.5, 0.2);
      if (i === 0 && !(b.kind === "edge" || (b.kind === "uir" && b.dwMid > 0)))
        throw new InputError(`stage ${s} must start with an edge block or a uir block with a dwMid kernel`);
      if (b.kind === "edge") {
        conv(t("convExp"), 3, ch, b.mid);
        norm(t("bn1"), b.mid);
        conv(t("convPwl"), 1, b.mid, b.out);
        norm(t("bn2"), b.out);
        ch = b.out;
      } else if (b.kind === "uir") {
        if (b.dwStart) {
          dw(t("dwStart"), b.dwStart, ch);
          norm(t("dwStartNorm"), ch);
        }
        let c = ch;
        if (b.mid) {
          conv(t("pwExp"), 1, ch, b.mid);
          norm(t("pwExpNorm"), b.mid);
          c = b.mid;
        }
        if (b.dwMid) {
          dw(t("dwMid"), b.dwMid, c);
          norm(t("dwMidNorm"), c);
        }
        conv(t("pwProj"), 1, c, b.out);
        norm(t("pwProjNorm"), b.out);
        layerScale(b.out);
        ch = b.out;
      } else {
        norm(t("attnNorm"), ch);
        conv(t("attnQ"), 1, ch, b.nHead * b.headDim);
        for (const [down, dn, proj] of [
          ["attnKDown", "attnKNorm", "attnK"],
          ["attnVDown", "attnVNorm", "attnV"],
        ] as const) {
          if (b.kvKernel) {
            dw(t(down), b.kvKernel, ch);
            norm(t(dn), ch);
          }
          conv(t(proj), 1, ch, b.headDim);
        }
        conv(t("attnO"), 1, b.nHead * b.headDim, ch);
        layerScale(ch);
      }
    }),
  );
  for (const s of [2, 3]) {
    const last = arch.stages[s].at(-1)!;
    fused.push(last.kind === "mqa" ? channelsBefore(arch, s) : last.out);
  }
  const cat = fused.reduce((a, b) => a + b, 0);
  conv(MNV5.msfaExp, 1, cat, arch.msfaMid);
  norm(MNV5.msfaExpNorm, arch.msfaMid);
  conv(MNV5.msfaProj, 1, arch.msfaMid, nEmbd);
  norm(MNV5.msfaProjNorm, nEmbd);
  norm(MNV5.msfaNorm, nEmbd);
  norm(MNV5.softEmbNorm, nEmbd);
  add(MNV5.inputProjection, GgmlType.F16, [nEmbd, o.projectionDim], 0, 1 / Math.sqrt(nEmbd));

  const nTokens = MSFA_OUTPUT_SIDE * MSFA_OUTPUT_SIDE;
  const config: MobileNetV5Config = {
    projector: GEMMA3NV,
    imageSize,
    patchSize: imageSize / nTokens,
    nEmbd,
    projectionDim: o.projectionDim,
    imageMean: [0, 0, 0],
    imageStd: [1, 1, 1],
    stages: discoverBlocks((n) => tensors.has(n)),
  };
  validateMobileNetV5Config(config);
  return { config, tensors };
}

/** Channels entering stage s's last block when it is attention (which keeps its width). */
function channelsBefore(arch: MobileNetV5Arch, s: number): number {
  for (let st = s; st >= 0; st--)
    for (const b of [...arch.stages[st]].reverse()) if (b.kind !== "mqa") return b.out;
  return arch.stem;
}

/** Standard normal numbers from a seed and a tensor name (Box–Muller over SeededRandom). */
function normal(seed: number, name: string): () => number {
  let h = Math.floor(seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  const r = new SeededRandom(h);
  return () => Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
}
