import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bleuFromStatistics,
  classificationReport,
  corpusBleu,
  corpusChrf,
  exactMatchRate,
  extractLabel,
  functionCallingReport,
  klFromLogits,
  klFromProbabilities,
  klSummary,
  latencySummary,
  loadValidator,
  nllSummary,
  normalizeAnswer,
  parseValidatorSpec,
  percentile,
  rougeL,
  sentenceBleu,
  sentenceChrf,
  syntaxValidRate,
  tokenize13a,
  validateJsonSchema,
} from "../../lib/eval/metrics/index.js";

const close = (actual: number, expected: number, tol: number, what = "") =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected} ± ${tol}, got ${actual}`);

// The README example of sacreBLEU 2.x (github.com/mjpost/sacrebleu README.md, "Using SacreBLEU from
// Python") and its test suite (test/test_bleu.py: test_corpus_bleu_cases):
// BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18); chrF2 = 59.73.
const refSets = [
  ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
  ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
];
const hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
const refsPerHyp = hyps.map((_, i) => refSets.map((s) => s[i]));

test("BLEU matches sacreBLEU's published README/test values", () => {
  const b = corpusBleu(hyps, refsPerHyp);
  close(b.score, 48.530827, 1e-5, "BLEU");
  assert.deepEqual(
    b.precisions.map((p) => p.toFixed(1)),
    ["82.4", "50.0", "45.5", "37.5"],
  );
  assert.equal(b.sysLen, 17);
  assert.equal(b.refLen, 18);
  close(b.bp, 0.943, 5e-4, "BP");
  close(corpusBleu(hyps, refsPerHyp, { tokenize: "none" }).score, 49.1919566, 1e-6, "tokenize none");
  close(corpusBleu(hyps, refsPerHyp, { smooth: "none" }).score, 48.530827, 1e-5, "smooth none");
  assert.equal(corpusBleu(["", "", ""], refsPerHyp).score, 0);
  // README "Variable Number of References": BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 … ref_len = 19).
  // Those printed numbers are what sacreBLEU gives when only the first stream's first reference is empty
  // (the second stream keeps "The dog had bit the man.": ref_len 19 needs its 7 tokens), so that is the case here.
  const varRefs = refsPerHyp.map((r, i) => (i === 0 ? ["", r[1]] : r));
  const v = corpusBleu(hyps, varRefs);
  assert.equal(v.score.toFixed(2), "29.44");
  assert.deepEqual(
    v.precisions.map((p) => p.toFixed(1)),
    ["82.4", "42.9", "27.3", "12.5"],
  );
  assert.equal(v.refLen, 19);
});

test("BLEU statistics, floor smoothing and effective order match sacreBLEU's unit tests", () => {
  // test_bleu.py test_case_statistics (tokenize none)
  const s = corpusBleu(["am I am a character sequence"], [["I am a symbol string sequence a a"]], {
    tokenize: "none",
  });
  assert.deepEqual(s.counts, [4, 2, 1, 0]);
  assert.deepEqual(s.totals, [6, 5, 4, 3]);
  // test_case_scoring: compute_bleu([9,7,5,3],[10,8,6,4],11,11) = 0.8375922397 (no smoothing)
  close(
    bleuFromStatistics([9, 7, 5, 3], [10, 8, 6, 4], 11, 11, { smooth: "none" }).score / 100,
    0.8375922397,
    1e-9,
  );
  // raw_corpus_bleu = tokenize none, floor 0.01, effective order (test_raw_bleu_cases, test_case_effective_order)
  const raw = { tokenize: "none", smooth: "floor", floorValue: 0.01, effectiveOrder: true } as const;
  close(corpusBleu(["this is a fest"], [["this is a test"]], raw).score / 100, 0.223606797749979, 1e-9);
  close(corpusBleu(["test"], [["a test"]], raw).score / 100, 0.3678794411714425, 1e-9);
  close(corpusBleu(["a little test"], [["a test"]], raw).score / 100, 0.03218297948685433, 1e-9);
  close(corpusBleu(["a test"], [["a test"]], raw).score / 100, 1, 1e-12);
  close(sentenceBleu("a test", ["a test"]).score, 100, 1e-9);
});

test("13a tokenization splits punctuation like mteval-v13a", () => {
  // the apostrophe (0x27) is outside 13a's symbol ranges: hyp_len 17 in the README example relies on it
  assert.equal(tokenize13a("It wasn't surprising."), "It wasn't surprising .");
  assert.equal(tokenize13a("3.14, 1,000 and 2-3 &amp; x"), "3.14 , 1,000 and 2 - 3 & x");
});

test("chrF matches sacreBLEU's README and test_chrf.py values", () => {
  assert.equal(corpusChrf(hyps, refsPerHyp).score.toFixed(2), "59.73");
  const eps3 = { beta: 3, epsSmoothing: true };
  close(corpusChrf(["aa"], [["ab"]], eps3).score, 8.3333, 1e-4);
  close(corpusChrf(["a", "b"], [["a"], ["c"]], eps3).score, 8.3333, 1e-4);
  close(corpusChrf(["a"], [["a"]], eps3).score, 16.6667, 1e-4);
  close(corpusChrf(["a b c"], [["abc"]], eps3).score, 50, 1e-4);
  close(corpusChrf([""], [["reference"]], eps3).score, 0, 1e-4);
  close(
    corpusChrf(
      [
        " risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
      ],
      [
        [
          "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .",
        ],
      ],
      eps3,
    ).score,
    63.36173,
    1e-4,
  );
  close(
    corpusChrf(
      [" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "],
      [["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."]],
      eps3,
    ).score,
    64.1302698,
    1e-4,
  );
  // effective-order mode (eps_smoothing=False), β = 3
  close(corpusChrf(["aa"], [["ab"]], { beta: 3 }).score, 25, 1e-4);
  close(corpusChrf(["a", "b"], [["a"], ["c"]], { beta: 3 }).score, 50, 1e-4);
  // whitespace kept, β = 3
  close(
    corpusChrf(
      ["Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."],
      [["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."]],
      { beta: 3, whitespace: true },
    ).score,
    67.3481606,
    1e-4,
  );
  // sentence level, β = 2 with ε smoothing (test_sentence_level_chrf; Czech, non-ASCII)
  close(
    sentenceChrf(
      "Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
      ["Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře."],
      { epsSmoothing: true },
    ).score,
    39.14078509,
    1e-4,
  );
  close(
    sentenceChrf(
      "Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
      ["Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli."],
      { epsSmoothing: true },
    ).score,
    57.15704367,
    1e-4,
  );
});

test("ROUGE-L F equals the hand-computed LCS value", () => {
  // target 9 words, prediction 8 words, LCS "the quick brown jumps the" = 5 → P 5/8, R 5/9, F = 50/85
  const r = rougeL("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog");
  close(r.precision, 5 / 8, 1e-12);
  close(r.recall, 5 / 9, 1e-12);
  close(r.f, 50 / 85, 1e-12);
  assert.equal(rougeL("", "x").f, 0);
  // Unicode letters are kept: "¿Cómo controlar la roya?" has 4 words
  close(rougeL("cómo controlar la roya", "¿Cómo controlar la roya del café?").recall, 4 / 6, 1e-12);
});

test("exact match normalises like SQuAD", () => {
  assert.equal(normalizeAnswer("  The Eiffel   Tower! "), "eiffel tower");
  assert.equal(exactMatchRate(["the cat.", "dog"], [["Cat"], ["a dog!", "hound"]]), 1);
  assert.equal(exactMatchRate(["lang:python"], [["lang:java"]]), 0);
});

test("perplexity and NLL", () => {
  const s = nllSummary([Math.log(0.5), Math.log(0.25)]);
  close(s.meanNll, (Math.log(2) + Math.log(4)) / 2, 1e-12);
  close(s.perplexity, Math.sqrt(8), 1e-12);
  assert.equal(s.tokens, 2);
});

test("KL divergence equals the hand-computed value", () => {
  // P = (1/4, 3/4), Q = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2)
  const expected = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5);
  close(klFromLogits([0, Math.log(3)], [5, 5]), expected, 1e-12);
  close(klFromProbabilities([0.25, 0.75], [0.5, 0.5]), expected, 1e-12);
  assert.equal(klFromProbabilities([1, 0], [0, 1]), Infinity);
  const s = klSummary(
    [
      [0, Math.log(3)],
      [1, 0],
    ],
    [
      [0, 0],
      [1, 0],
    ],
  );
  close(s.mean, expected / 2, 1e-12);
  assert.equal(s.sameTop, 0.5);
});

test("latency percentiles interpolate like numpy", () => {
  const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  close(percentile(sorted, 50), 5.5, 1e-12);
  close(percentile(sorted, 95), 9.55, 1e-12);
  const l = latencySummary(
    sorted.map((ms) => ({ latencyMs: ms * 100, completionTokens: 10, generationMs: 500 })),
  );
  close(l.p95Ms, 955, 1e-9);
  close(l.tokensPerSecond, 100 / 5, 1e-9);
});

test("function-calling metrics on a hand-scored set", () => {
  const r = functionCallingReport([
    // exact
    {
      reference: [{ name: "inventario", arguments: { producto: "fertilizante" } }],
      predicted: [{ name: "inventario", arguments: '{"producto":"fertilizante"}' }],
    },
    // right name, wrong argument
    {
      reference: [{ name: "gastos", arguments: { mes: "mayo" } }],
      predicted: [{ name: "gastos", arguments: { mes: "junio" } }],
    },
    // invalid JSON
    { reference: [{ name: "cosecha", arguments: {} }], predicted: null },
    // text answer where none was expected (correct), and a spurious call where none was expected
    { reference: [], predicted: [] },
    { reference: [], predicted: [{ name: "gastos", arguments: {} }] },
  ]);
  assert.equal(r.callExamples, 3);
  close(r.validJsonRate, 2 / 3, 1e-12);
  close(r.toolNameAccuracy, 2 / 3, 1e-12);
  close(r.argumentExactMatch, 1 / 3, 1e-12);
  close(r.noCallAccuracy, 1 / 2, 1e-12);
  // calls: predicted 3, reference 3, exact matches 1 → P = R = F1 = 1/3; names: 2 of 3
  close(r.precision, 1 / 3, 1e-12);
  close(r.recall, 1 / 3, 1e-12);
  close(r.f1, 1 / 3, 1e-12);
  close(r.namePrecision, 2 / 3, 1e-12);
});

test("classification accuracy, confusion matrix and label extraction", () => {
  const ref = ["roya", "roya", "broca", "ojo de gallo"];
  const pred = ["roya", "broca", "broca", "(other)"];
  const r = classificationReport(pred, ref);
  assert.equal(r.accuracy, 0.5);
  assert.deepEqual(r.labels, ["broca", "ojo de gallo", "roya", "(other)"]);
  assert.deepEqual(r.matrix, [
    [1, 0, 0, 0],
    [0, 0, 0, 1],
    [1, 0, 1, 0],
    [0, 0, 0, 0],
  ]);
  close(r.perClass.broca.precision, 0.5, 1e-12);
  close(r.perClass.roya.recall, 0.5, 1e-12);
  assert.equal(extractLabel("La planta tiene Ojo de Gallo.", ["roya", "ojo de gallo"]), "ojo de gallo");
  assert.equal(extractLabel("Roya", ["roya", "broca"]), "roya");
  assert.equal(extractLabel("no sé", ["roya"]), "(other)");
});

test("syntax validators: regex, JSON schema and a JS module", async () => {
  const re = await loadValidator(
    parseValidatorSpec("regex:(lang|author):\\S+( (AND|OR) (lang|author):\\S+)*"),
  );
  assert.equal(await syntaxValidRate(["lang:python", "author:ann AND lang:c", "python files"], re), 2 / 3);
  const schema = {
    type: "object",
    properties: { tool: { enum: ["a", "b"] }, n: { type: "integer", minimum: 0 } },
    required: ["tool"],
    additionalProperties: false,
  };
  assert.deepEqual(validateJsonSchema({ tool: "a", n: 2 }, schema), []);
  assert.equal(validateJsonSchema({ tool: "c", n: -1, x: 1 }, schema).length, 3);
  const js = await loadValidator({ jsonSchema: schema });
  assert.equal(await syntaxValidRate(['{"tool":"b"}', "{tool:b}", '{"n":1}'], js), 1 / 3);
  const dir = mkdtempSync(join(tmpdir(), "tunekit-validator-"));
  const file = join(dir, "v.mjs");
  writeFileSync(file, "export function validate(text) { return text.startsWith('ok'); }\n");
  const mod = await loadValidator(parseValidatorSpec(file));
  assert.equal(await syntaxValidRate(["ok 1", "no"], mod), 0.5);
});
