// PEFT export of a LoRA adapter: adapter_config.json + adapter_model.safetensors with Hugging Face module
// names, so the adapter can be used with transformers/PEFT. llama.cpp's converter permutes the rows of
// Llama's q_proj/k_proj (convert_hf_to_gguf.py LlamaModel.permute); B's rows are un-permuted here. DoRA
// adapters also write each module's magnitude as `<module>.lora_magnitude_vector` (shape (out,), the key PEFT's
// get_peft_model_state_dict writes) and `use_dora: true`.
import { join, basename } from "node:path";
import { writeFileAtomic } from "../util/atomic.js";
import { writeSafetensors, type SafetensorsTensor } from "../util/safetensors.js";
import type { Model } from "../models/model.js";
import type { LoraAdapter } from "./adapter.js";

const HF_MODULE: Record<string, string> = {
  attn_q: "self_attn.q_proj",
  attn_k: "self_attn.k_proj",
  attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj",
  ffn_up: "mlp.up_proj",
  ffn_down: "mlp.down_proj",
};

/** Inverse of llama.cpp's Q/K row permutation for a row-major (rows × cols) matrix. */
export function unpermuteQkRows(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const half = rows / nHead / 2;
  const out = new Float32Array(w.length);
  // GGUF row (h, j, i) with j < half, i ∈ {0,1} came from HF row (h, i, j)
  for (let h = 0; h < nHead; h++)
    for (let j = 0; j < half; j++)
      for (let i = 0; i < 2; i++) {
        const src = (h * half * 2 + j * 2 + i) * cols;
        const dst = (h * 2 * half + i * half + j) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
  return out;
}

export async function exportPeft(
  dir: string,
  adapter: LoraAdapter,
  model: Model,
  baseModel: string,
): Promise<void> {
  const c = model.config;
  const tensors: SafetensorsTensor[] = [];
  const modules = new Set<string>();
  for (const l of adapter.layers.values()) {
    const [, layer, kind] = /^blk\.(\d+)\.(.+)$/.exec(l.name)!;
    const hf = HF_MODULE[kind];
    modules.add(hf.split(".")[1]);
    const prefix = `base_model.model.model.layers.${layer}.${hf}`;
    const r = adapter.config.r;
    let b = l.b.f32(); // ggml [r, out] = torch (out, r) row-major
    const qk = c.arch === "llama" && (kind === "attn_q" || kind === "attn_k");
    const heads = kind === "attn_q" ? c.nHead : c.nHeadKv;
    if (qk) b = unpermuteQkRows(b, l.outDim, r, heads);
    tensors.push({ name: `${prefix}.lora_A.weight`, shape: [r, l.inDim], data: l.a.f32() });
    tensors.push({ name: `${prefix}.lora_B.weight`, shape: [l.outDim, r], data: b });
    if (l.dora) {
      let m = l.dora.m.f32();
      if (qk) m = unpermuteQkRows(m, l.outDim, 1, heads);
      tensors.push({ name: `${prefix}.lora_magnitude_vector`, shape: [l.outDim], data: m });
    }
  }
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: basename(baseModel),
    r: adapter.config.r,
    lora_alpha: adapter.config.alpha,
    lora_dropout: adapter.config.dropout,
    use_rslora: adapter.config.rslora,
    use_dora: adapter.config.dora,
    target_modules: [...modules].sort(),
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
  };
  writeSafetensors(join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
  writeFileAtomic(join(dir, "adapter_config.json"), JSON.stringify(config, null, 2));
}
