// Builds the embedded default base model from the repository's own text (data/), deterministically:
//   1. prepare the sample datasets (data/prepared/<name>/{train,eval}.jsonl, seed 42) — the recipes and
//      the main job use these splits;
//   2. learn a byte-level BPE tokenizer (Qwen 2 pre-tokenizer) with ChatML special tokens and template;
//   3. make a small random llama with that tokenizer (lib/models/new-model.ts);
//   4. pretrain every tensor with tunekit's own trainer (method "full") on the stories, the coffee Q&A
//      train split as plain text and the first-aid instructions as ChatML conversations;
//   5. write data/default-model/default-model.gguf (f16) and its README.md + build.json.
// The coffee Q&A eval split is never seen, so that the main job's before/after evaluation is honest.
//
//   npx tsx scripts/make-default-model.ts [--steps N] [--threads T] [--work DIR]
// A fixed step count (not a time budget) keeps the result independent of the machine's speed.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { prepareDataset } from "../lib/data/prepare.js";
import { readToolsFile } from "../lib/data/tools.js";
import { readRecords } from "../lib/data/index.js";
import { gguf, openGguf, writeGguf, type GgufTensorToWrite } from "../lib/gguf/index.js";
import { GgmlType } from "../lib/gguf/ggml-types.js";
import { castF32 } from "../lib/models/cast.js";
import { newModelGguf } from "../lib/models/new-model.js";
import { Model } from "../lib/models/model.js";
import { generate } from "../lib/models/generate.js";
import { renderChat } from "../lib/chat/template.js";
import { byteLevelBpeMetadata, trainByteLevelBpe } from "../lib/tokenizer/train-bpe.js";
import { tokenizerMetadataToGguf } from "../lib/tokenizer/metadata.js";
import { resolveTrainConfig } from "../lib/train/config.js";
import { train, type EvalLogRow, type TrainLogRow } from "../lib/train/trainer.js";
import { writeFileAtomic } from "../lib/util/atomic.js";
import { PACKAGE_ROOT } from "../lib/util/paths.js";
import {
  CHATML_TEMPLATE,
  DEFAULT_MODEL,
  DEFAULT_MODEL_DIR,
  PREPARED_DATA_DIR,
} from "../lib/pipeline/default-model.js";

const SEED = 42;
/** Vocabulary size including the three special tokens. */
const VOCAB = 1536;
const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const SHAPE = { arch: "llama", dim: 160, layers: 4, heads: 4, kvHeads: 2, ffn: 480, contextLength: 1024 };
const PRETRAIN = {
  maxSeq: 256,
  batch: 8,
  gradAccum: 1,
  lr: 3e-3,
  scheduler: "cosine",
  warmup: 0.05,
  weightDecay: 0.05,
  maxGradNorm: 1,
  evalEvery: 25,
  trainOn: "all",
  seed: SEED,
};
/** Optimizer steps (about 4.5 epochs of the corpus; ~5 minutes on 2 idle cores). */
const PRETRAIN_STEPS = 200;
/** Stories held out of pretraining to measure the pretraining eval loss. */
const HELD_OUT_STORIES = 16;

const DATASETS = [
  { name: "coffee-qa", format: "qa", input: "data/coffee-qa.jsonl" },
  { name: "first-aid", format: "instruction", input: "data/first-aid.jsonl" },
  { name: "chat-export", format: "chat-export", input: "data/chat-export" },
  {
    name: "farm-function-calls",
    format: "function-calling",
    input: "data/farm-function-calls.jsonl",
    tools: "data/farm-tools.json",
  },
] as const;

/**
 * data/prepared/farm-queries: the farm function calls as a translation task (request → one line of call
 * syntax, `tool {"arg": …}`), the shape of the SciX recipe. The tool schemas are left out: rendered into
 * the prompt they take ~1,900 tokens of this small vocabulary, more than the default model's context.
 * Same train/eval split as farm-function-calls.
 */
async function writeFarmQueries(): Promise<void> {
  const system =
    "Traduce la solicitud a una llamada del registro de la finca: herramienta {argumentos JSON}.";
  for (const split of ["train", "eval"]) {
    const records = await readRecords(join(PREPARED_DATA_DIR, "farm-function-calls", `${split}.jsonl`));
    const rows = records.map((r) => {
      const user = r.messages.find((m) => m.role === "user");
      const call = r.messages.find((m) => m.role === "assistant")?.tool_calls?.[0];
      if (!user || !call) throw new Error("farm-function-calls: a record without a request or a call");
      const args =
        typeof call.function.arguments === "string"
          ? JSON.parse(call.function.arguments)
          : call.function.arguments;
      return {
        messages: [
          { role: "system", content: system },
          { role: "user", content: user.content },
          { role: "assistant", content: `${call.function.name} ${JSON.stringify(args)}` },
        ],
      };
    });
    mkdirSync(join(PREPARED_DATA_DIR, "farm-queries"), { recursive: true });
    writeFileAtomic(join(PREPARED_DATA_DIR, "farm-queries", `${split}.jsonl`), jsonl(rows));
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r) + "\n").join("");

async function main(): Promise<void> {
  const started = performance.now();
  const work = arg("--work") ?? join(PACKAGE_ROOT, "runs", "default-model-build");
  const steps = Number(arg("--steps") ?? PRETRAIN_STEPS);
  // ggml threads spin while they wait: on a busy machine 1 thread can beat 2. Results may differ in the
  // last bits between thread counts, so the count used is recorded in build.json.
  const threads = Number(arg("--threads") ?? 2);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const root = (p: string) => join(PACKAGE_ROOT, p);

  // 1. the sample datasets, prepared once with a fixed seed (the main job prepares coffee-qa the same way)
  for (const d of DATASETS)
    await prepareDataset({
      format: d.format,
      input: root(d.input),
      outDir: join(PREPARED_DATA_DIR, d.name),
      seed: SEED,
      evalFraction: 0.1,
      ...("tools" in d ? { tools: readToolsFile(root(d.tools)) } : {}),
    });
  // report.json names the absolute source path of this machine: keep only the split files
  for (const d of DATASETS) rmSync(join(PREPARED_DATA_DIR, d.name, "report.json"), { force: true });
  await writeFarmQueries();
  writeFileAtomic(
    join(PREPARED_DATA_DIR, "README.md"),
    "# Prepared sample data\n\n" +
      "The datasets of `data/` converted to chat messages (`train.jsonl` / `eval.jsonl`, seed 42, 10 % eval) by\n" +
      "`npx tsx scripts/make-default-model.ts` (through `tunekit data prepare`), so that `recipes/*.json` run as is.\n" +
      "`farm-queries/` is `farm-function-calls/` as a translation task (request → `tool {arguments}`), without the\n" +
      "tool schemas. License: MIT, like the rest of `data/`.\n",
  );

  // 2. the corpus: stories, the coffee train split as text, first-aid as ChatML
  const stories = readFileSync(root("data/stories.txt"), "utf8")
    .split(/\n\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
  const trainStories = stories.slice(0, stories.length - HELD_OUT_STORIES);
  const evalStories = stories.slice(stories.length - HELD_OUT_STORIES);
  const coffee = await readRecords(join(PREPARED_DATA_DIR, "coffee-qa", "train.jsonl"));
  const coffeeText = coffee.map((r) => r.messages.map((m) => String(m.content)).join("\n"));
  const aid = readFileSync(root("data/first-aid.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { instruction: string; input?: string; output: string });
  const aidChats = aid.map((r) => ({
    messages: [
      { role: "user" as const, content: r.input ? `${r.instruction}\n\n${r.input}` : r.instruction },
      { role: "assistant" as const, content: r.output },
    ],
  }));
  const aidRendered = aidChats.map((c) => renderChat(CHATML_TEMPLATE, c.messages));

  // 3. tokenizer: learned on exactly the text the model is pretrained on
  const t0 = performance.now();
  const corpus = [
    ...trainStories,
    ...coffeeText,
    ...aidRendered.map((t) => t.replace(/<\|im_(start|end)\|>/g, "")),
  ];
  const bpe = trainByteLevelBpe(corpus, VOCAB - 256 - SPECIALS.length, { preTokenizer: "qwen2" });
  const tokMeta = byteLevelBpeMetadata(bpe, {
    preTokenizer: "qwen2",
    specialTokens: SPECIALS,
    bos: "<|endoftext|>",
    eos: "<|endoftext|>",
    eot: "<|im_end|>",
    pad: "<|endoftext|>",
    addBos: false,
    chatTemplate: CHATML_TEMPLATE,
  });
  const tokenizerSeconds = (performance.now() - t0) / 1000;
  const tokenizerGguf = join(work, "tokenizer.gguf");
  await writeGguf(tokenizerGguf, {
    metadata: new Map([["general.architecture", gguf.str("llama")], ...tokenizerMetadataToGguf(tokMeta)]),
    tensors: [],
  });
  const nTokens = tokMeta["tokenizer.ggml.tokens"].length;
  console.log(
    `tokenizer: ${nTokens} tokens (${bpe.merges.length} merges) in ${tokenizerSeconds.toFixed(1)} s`,
  );

  // 4. the random model
  const init = join(work, "init.gguf");
  const made = await newModelGguf({
    ...SHAPE,
    tokenizerFrom: tokenizerGguf,
    seed: SEED,
    out: init,
    type: "f32",
  });
  console.log(`model: ${made.parameters} parameters (dim ${made.dim}, ${made.layers} layers)`);

  // 5. pretraining data: one JSONL mixing {"text"} and {"messages"} rows (trainOn "all": every token)
  const trainPath = join(work, "pretrain.jsonl");
  const evalPath = join(work, "pretrain-eval.jsonl");
  writeFileSync(
    trainPath,
    jsonl([...trainStories.map((text) => ({ text })), ...coffeeText.map((text) => ({ text })), ...aidChats]),
  );
  writeFileSync(evalPath, jsonl(evalStories.map((text) => ({ text }))));

  const curve: Array<{ step: number; loss?: number; eval_loss?: number; elapsed_s?: number }> = [];
  const cfg = resolveTrainConfig(undefined, {
    ...PRETRAIN,
    model: init,
    data: trainPath,
    evalData: evalPath,
    out: join(work, "pretrain"),
    method: "full",
    maxSteps: steps,
    threads,
  });
  const run = await train(cfg, {
    onStart: (s) => console.log(`  ${s.trainRows} rows of ${cfg.maxSeq} tokens, ${s.parameters} parameters`),
    onLog: (r: TrainLogRow) => {
      if (r.step % 10 === 0)
        console.log(`  step ${r.step}: loss ${r.loss.toFixed(3)}, ${r.tokens_per_s.toFixed(0)} tokens/s`);
      curve.push({ step: r.step, loss: r.loss, elapsed_s: r.elapsed_s });
    },
    onEval: (e: EvalLogRow) => {
      console.log(`  step ${e.step}: eval loss ${e.eval_loss.toFixed(3)}`);
      curve.push({ step: e.step, eval_loss: e.eval_loss });
    },
  });

  // 6. the shipped file: f16 matrices, metadata naming what it is
  mkdirSync(DEFAULT_MODEL_DIR, { recursive: true });
  const f = openGguf(run.adapterPath);
  let bytes: number;
  try {
    const tensors: GgufTensorToWrite[] = f.tensors.map((t) => {
      const matrix = t.shape.length >= 2;
      const n = t.shape.reduce((a, b) => a * b, 1);
      return {
        name: t.name,
        type: matrix ? GgmlType.F16 : GgmlType.F32,
        shape: t.shape,
        data: () => {
          const raw = f.tensorData(t.name).slice();
          return matrix ? castF32(new Float32Array(raw.buffer, 0, n), GgmlType.F16) : raw;
        },
      };
    });
    const metadata = new Map(f.metadata);
    metadata.set("general.name", gguf.str("tunekit default"));
    metadata.set("general.license", gguf.str("MIT"));
    metadata.set(
      "general.description",
      gguf.str("Tiny base model pretrained by tunekit on its own sample text"),
    );
    metadata.set("general.file_type", gguf.u32(1));
    bytes = (await writeGguf(DEFAULT_MODEL, { metadata, tensors })).bytes;
  } finally {
    f.close();
  }

  // 7. samples from the shipped file with tunekit's engine (greedy)
  const m = Model.load(DEFAULT_MODEL);
  const samples: Array<{ prompt: string; text: string }> = [];
  try {
    for (const prompt of [
      "Once upon a time",
      renderChat(CHATML_TEMPLATE, [{ role: "user", content: "How do I treat a small burn?" }], {
        addGenerationPrompt: true,
      }),
    ])
      samples.push({ prompt, text: generate(m, prompt, { maxTokens: 48 }).text });
  } finally {
    m.dispose();
  }
  for (const s of samples) console.log(`sample: ${JSON.stringify(s.prompt + s.text)}`);

  const trainRows = curve.filter((c) => c.loss !== undefined);
  const evals = curve.filter((c) => c.eval_loss !== undefined);
  const build = {
    seed: SEED,
    threads,
    tokenizer: {
      tokens: nTokens,
      merges: bpe.merges.length,
      preTokenizer: "qwen2",
      specialTokens: SPECIALS,
      seconds: tokenizerSeconds,
    },
    model: { ...SHAPE, vocab: nTokens, parameters: made.parameters, bytes, type: "f16" },
    pretraining: {
      steps: run.steps,
      rowsOf: cfg.maxSeq,
      batch: cfg.batch,
      lr: cfg.lr,
      scheduler: cfg.scheduler,
      seconds: trainRows.at(-1)?.elapsed_s ?? 0,
      firstLoss: trainRows[0]?.loss,
      finalLoss: run.finalLoss,
      evalLoss: evals.map((e) => ({ step: e.step, eval_loss: e.eval_loss })),
      lossEvery10: trainRows
        .filter((r) => r.step % 10 === 0 || r.step === 1)
        .map((r) => ({ step: r.step, loss: r.loss })),
    },
    corpus: {
      stories: trainStories.length,
      heldOutStories: evalStories.length,
      coffeeQaTrain: coffee.length,
      firstAid: aidChats.length,
    },
    samples,
    totalSeconds: (performance.now() - started) / 1000,
  };
  writeFileAtomic(join(DEFAULT_MODEL_DIR, "build.json"), JSON.stringify(build, null, 2) + "\n");
  writeFileAtomic(join(DEFAULT_MODEL_DIR, "README.md"), readme(build));
  console.log(
    `wrote ${relative(PACKAGE_ROOT, DEFAULT_MODEL)} (${(bytes / 2 ** 20).toFixed(2)} MiB) in ${build.totalSeconds.toFixed(0)} s`,
  );
}

function readme(b: {
  threads: number;
  tokenizer: { tokens: number; merges: number };
  model: {
    dim: number;
    layers: number;
    heads: number;
    kvHeads: number;
    ffn: number;
    parameters: number;
    bytes: number;
    contextLength: number;
  };
  pretraining: {
    steps: number;
    rowsOf: number;
    batch: number;
    lr: number;
    seconds: number;
    firstLoss?: number;
    finalLoss: number;
    evalLoss: Array<{ step: number; eval_loss?: number }>;
    lossEvery10: Array<{ step: number; loss?: number }>;
  };
  corpus: { stories: number; heldOutStories: number; coffeeQaTrain: number; firstAid: number };
  samples: Array<{ prompt: string; text: string }>;
}): string {
  const p = b.pretraining;
  const evalFirst = p.evalLoss[0]?.eval_loss;
  const evalLast = p.evalLoss.at(-1)?.eval_loss;
  const curve = p.lossEvery10
    .filter((_, i, a) => i % Math.max(1, Math.ceil(a.length / 12)) === 0 || i === a.length - 1)
    .map((r) => `| ${r.step} | ${r.loss?.toFixed(3)} |`)
    .join("\n");
  return `# The embedded default model

\`default-model.gguf\` is the small base model that \`npm start\`, the recipes in \`recipes/\` and the notebooks
use when no other model is given. The repository makes it itself — nothing is downloaded — with
\`npx tsx scripts/make-default-model.ts\` (deterministic for a given seed and thread count: seed 42, ${b.threads} thread(s); ${(p.seconds / 60).toFixed(1)} minutes of training here).

It is a toy: it writes recognisable short stories and ChatML-shaped answers, not reliable facts. It exists so
that the whole pipeline (prepare → LoRA → merge → quantize → evaluate) runs offline in minutes.

**License:** MIT, made by this repository from text written for it (\`data/\`). No third-party weights or text.

## What it is

| | |
| --- | --- |
| architecture | llama (RMSNorm, RoPE, SwiGLU, grouped-query attention) |
| shape | dim ${b.model.dim}, ${b.model.layers} layers, ${b.model.heads} heads / ${b.model.kvHeads} KV heads, FFN ${b.model.ffn}, context ${b.model.contextLength} |
| parameters | ${b.model.parameters.toLocaleString("en")} |
| file | ${(b.model.bytes / 2 ** 20).toFixed(2)} MiB, f16 matrices (norms f32) |
| tokenizer | byte-level BPE (\`gpt2\` model, \`qwen2\` pre-tokenizer), ${b.tokenizer.tokens} tokens: 256 bytes + ${b.tokenizer.merges} merges learned from the pretraining text + \`<|endoftext|>\` (BOS/EOS/padding), \`<|im_start|>\`, \`<|im_end|>\` (end of turn) |
| chat template | ChatML (\`<|im_start|>role\\ncontent<|im_end|>\\n\`), tools in the system turn, calls as \`<tool_call>{…}</tool_call>\` |

## How it was made

1. The sample datasets were prepared with seed 42 and a 10 % eval split into \`data/prepared/\` (the
   recipes and the main job use these splits).
2. The tokenizer was learned (\`lib/tokenizer/train-bpe.ts\`) on the pretraining text below.
3. A random llama of the shape above was made with \`newModelGguf\` (seed 42).
4. Every tensor was trained with tunekit's own trainer (\`method: "full"\`, f32) on: ${b.corpus.stories} stories from
   \`data/stories.txt\` as plain text, the ${b.corpus.coffeeQaTrain} questions and answers of the coffee Q&A *train* split as plain
   text (Spanish), and the ${b.corpus.firstAid} first-aid instructions as ChatML conversations. The coffee Q&A eval split
   is never seen, so the main job's before/after evaluation measures what the LoRA fine-tune adds.
   ${p.steps} steps of ${p.batch} rows × ${p.rowsOf} tokens (packed), AdamW, lr ${p.lr} with cosine decay and 5 % warmup,
   in ${(p.seconds / 60).toFixed(1)} minutes.
5. The result was written with f16 matrices.

## Pretraining loss

Training loss ${p.firstLoss?.toFixed(3)} → ${p.finalLoss.toFixed(3)} nats/token; eval loss on ${b.corpus.heldOutStories} held-out stories
${evalFirst?.toFixed(3)} → ${evalLast?.toFixed(3)} (perplexity ${evalFirst !== undefined ? Math.exp(evalFirst).toFixed(0) : "?"} → ${evalLast !== undefined ? Math.exp(evalLast).toFixed(1) : "?"}).

| step | training loss |
| --- | --- |
${curve}

The whole curve and the settings are in \`build.json\`.

## Samples (greedy, tunekit's engine)

${b.samples.map((s) => "```text\n" + s.prompt + s.text + "\n```").join("\n\n")}
`;
}

await main();
