// Statistics of a prepared messages JSONL: message counts, lengths in characters (and tokens with a
// model), roles, tool calls, images and the balance of image answers.
import { RowIssues } from "./issues.js";
import { loadModelText, recordTokenCounter } from "./model-text.js";
import { readJsonlText, readText } from "./read/rows.js";
import { messageImages, type ChatRecord } from "./record.js";
import { classBalance, recordLengths, summarize, type LengthSummary } from "./stats.js";

/** The document of `data stats`. */
export interface DatasetStats {
  file: string;
  records: number;
  messages: LengthSummary;
  chars: LengthSummary;
  assistantChars: LengthSummary;
  tokens?: LengthSummary;
  roles: Record<string, number>;
  toolCalls: number;
  images: number;
  classBalance?: ReturnType<typeof classBalance>;
}

/** Length statistics of a messages JSONL (`data stats`; also for notebooks). */
export function datasetStats(file: string, modelPath?: string): DatasetStats {
  const rows = readJsonlText(readText(file), file, new RowIssues());
  const records = rows.map((r) => r.value as ChatRecord);
  const lengths = records.map(recordLengths);
  const roles: Record<string, number> = {};
  let toolCalls = 0;
  let images = 0;
  const labels: string[] = [];
  for (const r of records) {
    for (const m of r.messages ?? []) {
      roles[m.role] = (roles[m.role] ?? 0) + 1;
      toolCalls += m.tool_calls?.length ?? 0;
      images += messageImages(m).length;
    }
    const hasImage = (r.messages ?? []).some((m) => messageImages(m).length > 0);
    const answer = r.messages?.[r.messages.length - 1];
    if (hasImage && answer?.role === "assistant" && typeof answer.content === "string")
      labels.push(answer.content);
  }
  const model = modelPath ? loadModelText(modelPath) : undefined;
  return {
    file,
    records: records.length,
    messages: summarize(lengths.map((l) => l.messages)),
    chars: summarize(lengths.map((l) => l.chars)),
    assistantChars: summarize(lengths.map((l) => l.assistantChars)),
    ...(model ? { tokens: summarize(records.map(recordTokenCounter(model))) } : {}),
    roles,
    toolCalls,
    images,
    ...(labels.length ? { classBalance: classBalance(labels) } : {}),
  };
}

