// Source of notebooks/07-export.ipynb (regenerate with: npx tsx scripts/build-notebooks.ts).

// %% [markdown]
// # 07 · Export
//
// The adapter trained in 06 is merged into the base model (W + s·B·A, written as an f16 GGUF), the
// merged model is quantized with llama.cpp's type mixes, and everything is compared through llama.cpp
// itself (node-llama-cpp): file size, perplexity on the held-out coffee answers, KL divergence from a
// reference, agreement of greedy answers and decode speed. Last, a few questions to the fine-tuned,
// quantized model.

// %% Merge
import * as path from "node:path";
import { mkdirSync } from "node:fs";
import { showMarkdown, showPlot, showTable } from "../dist/notebooks/display.js";
import { formatBytes } from "../dist/notebooks/environment.js";
import { notebookRunDir, readRunJson, writeRunJson } from "../dist/notebooks/run-folder.js";
import { notebookBaseModel, notebookSettings } from "../dist/notebooks/settings.js";
import { mergeAdapter } from "../dist/export/merge.js";

interface Training {
  baseModel: string;
  adapter: string;
  evalData: string;
  steps: number;
}
const settings = notebookSettings();
const threads = notebookBaseModel().inferenceThreads;
const training = readRunJson<Training>("training.json", "06-training");
const exportDir = path.join(notebookRunDir(), "export");
mkdirSync(exportDir, { recursive: true });
const merged = await mergeAdapter({
  model: training.baseModel,
  adapter: training.adapter,
  out: path.join(exportDir, "merged-f16.gguf"),
  type: "f16",
});
showTable(
  [
    { item: "base model", value: training.baseModel },
    { item: "adapter", value: `${training.adapter} (${training.steps} steps)` },
    { item: "merged model", value: merged.out },
    { item: "matrices updated", value: merged.merged },
    { item: "tensors copied", value: merged.copied },
    { item: "scale s = α/r", value: merged.scale },
    { item: "size", value: formatBytes(merged.bytes) },
  ],
  { title: "Merge" },
);

// %% [markdown]
// ## Quantize
//
// The same mixes as `llama-quantize`. This model's rows are 160 values long, not a multiple of 256,
// so K-quant types fall back to 32-value blocks for those tensors (as llama.cpp does) — the
// `fallbacks` column counts them.

// %% Quantize
import { quantizeModel } from "../dist/export/quantize.js";

const quantTypes = ["Q8_0", "Q4_K_M", "Q4_0"];
const quantized = [];
for (const type of quantTypes)
  quantized.push(
    await quantizeModel({ in: merged.out, out: path.join(exportDir, `merged-${type}.gguf`), type }),
  );
showTable(
  quantized.map((q) => ({
    type: q.type,
    file: path.basename(q.out),
    size: formatBytes(q.outBytes),
    "bits per weight": q.bitsPerWeight,
    fallbacks: q.fallbacks,
    "of f16 size": `${((100 * q.outBytes) / q.inBytes).toFixed(0)} %`,
  })),
  { title: "Quantized models" },
);

// %% [markdown]
// ## Hugging Face checkpoint
//
// The same merge, written as a Hugging Face checkpoint folder for transformers, PEFT, vLLM or MLX:
// `config.json`, `generation_config.json`, `model.safetensors` (sharded with an index above
// `maxShardBytes`) and the tokenizer files with the chat template. Tensor names, shapes, Llama's Q/K row
// order and the dtype are transformers'; llama.cpp's own `convert_hf_to_gguf.py` turns such a folder
// back into the same GGUF (test/export/hf-llama-convert.test.ts).

// %% Hugging Face checkpoint
import { exportHfCheckpoint } from "../dist/export/hf-checkpoint.js";

const hf = await exportHfCheckpoint({
  model: training.baseModel,
  adapter: training.adapter,
  out: path.join(exportDir, "hf-checkpoint"),
  dtype: "f16",
});
showTable(
  hf.files.map((f) => ({ file: f.name, size: formatBytes(f.bytes) })),
  {
    title: `${hf.out}: ${hf.arch}, ${hf.tensors} tensors in ${hf.dtype}, adapter merged into ${hf.merged} matrices`,
  },
);

// %% [markdown]
// ## Before and after
//
// The base model, the base with the adapter applied at load time (llama.cpp's `--lora`), and the
// merged model, on the held-out split of 06 (never trained on). KL divergence and agreement are
// measured against the base: how far the fine-tune moved the model. Perplexity here is over the whole
// held-out text (questions and answers, without the chat template), while 06's eval loss counts only
// the answer tokens inside the chat template — the two can move differently. chrF and ROUGE-L score
// the greedy answers against the reference answers.

// %% Before/after comparison
import { compareModels } from "../dist/eval/compare.js";
import { messageText, readRecords } from "../dist/data/index.js";

const evalRecords = await readRecords(training.evalData);
const heldOut = evalRecords.map((r) => r.messages.map(messageText).join("\n")).join("\n\n");
const beforeAfter = await compareModels({
  entries: [
    { model: training.baseModel, label: "base" },
    { model: training.baseModel, adapter: training.adapter, label: "base + adapter" },
    { model: merged.out, label: "merged f16" },
  ],
  text: heldOut,
  maxEvalTokens: settings.compareTokens,
  data: training.evalData,
  limit: settings.comparePrompts,
  maxTokens: settings.answerTokens,
  ...(threads ? { threads: threads } : {}),
});
const compareColumns = (rows: typeof beforeAfter.rows) =>
  rows.map((r) => ({
    model: r.label,
    "size MB": Number((r.fileBytes / 1e6).toFixed(2)),
    NLL: r.nll,
    perplexity: r.perplexity,
    "KL mean": r.klMean,
    "same top token": r.sameTop,
    "greedy answers identical": r.greedyAgreement,
    "tokens/s": r.decodeTokensPerSecond,
    chrF: r.metrics?.["chrf"],
    "ROUGE-L": r.metrics?.["rouge_l"],
  }));
showTable(compareColumns(beforeAfter.rows), {
  title: `Before/after on ${beforeAfter.textTokens} held-out tokens and ${beforeAfter.prompts} prompts (KL vs ${beforeAfter.reference})`,
});
showPlot(beforeAfter.figures.perplexity!);

// %% [markdown]
// ## Quantization
//
// The quantized files against the merged f16 model: what each type costs in perplexity and KL
// divergence, and what it saves in size.

// %% Quantization comparison
const quantCompare = await compareModels({
  entries: [
    { model: merged.out, label: "merged f16" },
    ...quantized.map((q) => ({ model: q.out, label: q.type })),
  ],
  text: heldOut,
  maxEvalTokens: settings.compareTokens,
  data: training.evalData,
  limit: settings.comparePrompts,
  maxTokens: settings.answerTokens,
  ...(threads ? { threads: threads } : {}),
});
showTable(compareColumns(quantCompare.rows), { title: `Quantized models (KL vs ${quantCompare.reference})` });
showPlot({
  data: [
    {
      type: "scatter",
      mode: "markers+text",
      x: quantCompare.rows.map((r) => r.fileBytes / 1e6),
      y: quantCompare.rows.map((r) => r.perplexity),
      text: quantCompare.rows.map((r) => r.label),
      textposition: "top center",
      marker: { size: 12 },
    },
  ],
  layout: {
    title: { text: "Size against perplexity on held-out text" },
    xaxis: { title: { text: "file size (MB)" } },
    yaxis: { title: { text: "perplexity" } },
  },
});
showPlot(quantCompare.figures.kl!);

// %% [markdown]
// ## Chat with the result
//
// The fine-tuned, Q8_0-quantized model answers held-out questions through node-llama-cpp (greedy), next
// to the base model and the reference answer. (A 1.7 M-parameter toy model: expect the style of the
// training answers, not reliable facts.)

// %% Chat
import { loadModel } from "../dist/infer/model.js";
import { chat } from "../dist/infer/chat.js";

const q8 = quantized.find((q) => q.type === "Q8_0")!;
const questions = evalRecords.slice(0, settings.comparePrompts).map((r) => ({
  question: messageText(r.messages.find((m) => m.role === "user")!),
  reference: messageText(r.messages.filter((m) => m.role === "assistant").pop()!),
}));
const answers: Record<string, string[]> = {};
for (const [label, modelPath] of [
  ["base", training.baseModel],
  ["fine-tuned Q8_0", q8.out],
] as const) {
  const m = await loadModel({ modelPath: modelPath, ...(threads ? { threads: threads } : {}) });
  try {
    answers[label] = [];
    for (const q of questions) {
      const reply = await chat(m, [{ role: "user", content: q.question }], {
        maxTokens: settings.answerTokens,
        temperature: 0,
      });
      answers[label]!.push(reply.text);
    }
  } finally {
    await m.dispose();
  }
}
showTable(
  questions.map((q, i) => ({
    question: q.question,
    reference: q.reference,
    base: answers["base"]![i],
    "fine-tuned Q8_0": answers["fine-tuned Q8_0"]![i],
  })),
  { title: "Greedy answers through llama.cpp", maxCellChars: 200 },
);

// %% Write export.json
const written = writeRunJson("export.json", {
  merged: merged.out,
  hfCheckpoint: { path: hf.out, files: hf.files },
  quantized: quantized.map((q) => ({
    type: q.type,
    path: q.out,
    bytes: q.outBytes,
    bitsPerWeight: q.bitsPerWeight,
  })),
  beforeAfter: beforeAfter.rows,
  quantization: quantCompare.rows,
});
showMarkdown(`Wrote \`${written}\`.`);
