// Which linear layers get LoRA: names as users write them (PEFT/HF names, short names, "all-linear",
// regular expressions) resolved to the model's GGUF layer names ("blk.3.attn_q").
import { InputError } from "../util/errors.js";
import { LINEAR_NAMES, type LinearName } from "../models/tensors.js";

const ALIASES: Record<string, LinearName> = {
  q: "attn_q",
  q_proj: "attn_q",
  attn_q: "attn_q",
  wq: "attn_q",
  k: "attn_k",
  k_proj: "attn_k",
  attn_k: "attn_k",
  wk: "attn_k",
  v: "attn_v",
  v_proj: "attn_v",
  attn_v: "attn_v",
  wv: "attn_v",
  o: "attn_output",
  o_proj: "attn_output",
  attn_output: "attn_output",
  wo: "attn_output",
  gate: "ffn_gate",
  gate_proj: "ffn_gate",
  ffn_gate: "ffn_gate",
  w1: "ffn_gate",
  up: "ffn_up",
  up_proj: "ffn_up",
  ffn_up: "ffn_up",
  w3: "ffn_up",
  down: "ffn_down",
  down_proj: "ffn_down",
  ffn_down: "ffn_down",
  w2: "ffn_down",
};

/**
 * Resolves a target spec to layer names. `spec`: "all-linear", a comma list of names (q,k,v,o,gate,up,down
 * or q_proj… or attn_q…), or a regular expression written /…/ matched against "blk.N.attn_q".
 */
export function resolveTargets(spec: string | readonly string[], nLayer: number): string[] {
  const all = Array.from({ length: nLayer }, (_, i) => LINEAR_NAMES.map((n) => `blk.${i}.${n}`)).flat();
  const items = (typeof spec === "string" ? [spec] : [...spec])
    .flatMap((s) => (s.startsWith("/") ? [s] : s.split(",")))
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InputError("no LoRA target modules given", { field: "target" });
  const chosen = new Set<string>();
  for (const item of items) {
    if (item === "all-linear" || item === "all") all.forEach((n) => chosen.add(n));
    else if (item.startsWith("/") && item.lastIndexOf("/") > 0) {
      const re = new RegExp(item.slice(1, item.lastIndexOf("/")), item.slice(item.lastIndexOf("/") + 1));
      const hits = all.filter((n) => re.test(n));
      if (hits.length === 0)
        throw new InputError(`target pattern ${item} matches no layer (layers look like "blk.0.attn_q")`, {
          field: "target",
        });
      hits.forEach((n) => chosen.add(n));
    } else {
      const short = ALIASES[item];
      if (!short)
        throw new InputError(
          `unknown target module "${item}" (use all-linear, q,k,v,o,gate,up,down, q_proj…, attn_q…, or /regex/)`,
          { field: "target" },
        );
      all.filter((n) => n.endsWith(`.${short}`)).forEach((n) => chosen.add(n));
    }
  }
  return all.filter((n) => chosen.has(n));
}
