// Function-calling metrics: is the call well-formed JSON, is the right tool named, are the arguments
// exactly right, and precision/recall/F1 over individual calls (a call matches when name and arguments
// are equal; arguments compare as JSON values, key order ignored).

/** A tool call reduced to what the metrics compare. */
export interface CallLike {
  /** Tool name. */
  name: string;
  /** Arguments: a JSON object (or a JSON string of one, which is parsed before comparing). */
  arguments: unknown;
}

/** One evaluated example. */
export interface ToolCallExample {
  /** Calls in the reference assistant turn (empty when the reference answers in text). */
  reference: readonly CallLike[];
  /**
   * Calls found in the prediction: a list (empty when the model answered in text), or null when the
   * model tried to call a tool but the call was not valid JSON.
   */
  predicted: readonly CallLike[] | null;
}

/** Function-calling scores; rates are 0–1. */
export interface FunctionCallingReport {
  /** Examples whose reference has tool calls. */
  callExamples: number;
  /** Of those: the prediction holds well-formed calls (valid JSON, object arguments). */
  validJsonRate: number;
  /** Of those: the multiset of predicted tool names equals the reference's. */
  toolNameAccuracy: number;
  /** Of those: every call matches exactly (names and arguments), same count. */
  argumentExactMatch: number;
  /** Examples whose reference answers without a call, and the fraction where the model also made none. */
  noCallExamples: number;
  noCallAccuracy: number;
  /** Call-level precision, recall and F1 over all examples (exact name + arguments). */
  precision: number;
  recall: number;
  f1: number;
  /** Call-level precision/recall/F1 counting a call right when only the name matches. */
  namePrecision: number;
  nameRecall: number;
  nameF1: number;
}

/** Parses string arguments as JSON; other values are returned as they are. */
export function normalizeArguments(args: unknown): unknown {
  if (typeof args === "string") {
    try {
      return JSON.parse(args);
    } catch {
      return args;
    }
  }
  return args;
}

/** Deep equality of JSON values; object key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => k in bo && jsonEqual(ao[k], bo[k]));
}

function callsEqual(a: CallLike, b: CallLike): boolean {
  return a.name === b.name && jsonEqual(normalizeArguments(a.arguments), normalizeArguments(b.arguments));
}

/** Greedy one-to-one matching: how many predicted calls find an equal, not yet used reference call. */
function countMatches(
  pred: readonly CallLike[],
  ref: readonly CallLike[],
  eq: (a: CallLike, b: CallLike) => boolean,
) {
  const used = new Array<boolean>(ref.length).fill(false);
  let matched = 0;
  for (const p of pred) {
    const j = ref.findIndex((r, k) => !used[k] && eq(p, r));
    if (j >= 0) {
      used[j] = true;
      matched++;
    }
  }
  return matched;
}

function isWellFormed(c: CallLike): boolean {
  const args = normalizeArguments(c.arguments);
  return (
    typeof c.name === "string" &&
    c.name !== "" &&
    typeof args === "object" &&
    args !== null &&
    !Array.isArray(args)
  );
}

function prf(tp: number, predicted: number, reference: number) {
  const precision = predicted ? tp / predicted : reference ? 0 : 1;
  const recall = reference ? tp / reference : 1;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/** Scores function calling over a set of examples. */
export function functionCallingReport(examples: readonly ToolCallExample[]): FunctionCallingReport {
  let callExamples = 0;
  let valid = 0;
  let nameOk = 0;
  let exact = 0;
  let noCall = 0;
  let noCallOk = 0;
  let tp = 0;
  let nameTp = 0;
  let predictedCalls = 0;
  let referenceCalls = 0;
  for (const ex of examples) {
    const pred = ex.predicted ?? [];
    predictedCalls += pred.length;
    referenceCalls += ex.reference.length;
    tp += countMatches(pred, ex.reference, callsEqual);
    nameTp += countMatches(pred, ex.reference, (a, b) => a.name === b.name);
    if (ex.reference.length === 0) {
      noCall++;
      if (ex.predicted !== null && pred.length === 0) noCallOk++;
      continue;
    }
    callExamples++;
    if (ex.predicted !== null && pred.length > 0 && pred.every(isWellFormed)) valid++;
    const names = (cs: readonly CallLike[]) =>
      cs
        .map((c) => c.name)
        .sort()
        .join("\u0000");
    if (pred.length > 0 && names(pred) === names(ex.reference)) nameOk++;
    if (pred.length === ex.reference.length && countMatches(pred, ex.reference, callsEqual) === pred.length)
      exact++;
  }
  const rate = (n: number, d: number) => (d ? n / d : NaN);
  const calls = prf(tp, predictedCalls, referenceCalls);
  const names = prf(nameTp, predictedCalls, referenceCalls);
  return {
    callExamples,
    validJsonRate: rate(valid, callExamples),
    toolNameAccuracy: rate(nameOk, callExamples),
    argumentExactMatch: rate(exact, callExamples),
    noCallExamples: noCall,
    noCallAccuracy: rate(noCallOk, noCall),
    precision: calls.precision,
    recall: calls.recall,
    f1: calls.f1,
    namePrecision: names.precision,
    nameRecall: names.recall,
    nameF1: names.f1,
  };
}
