// The data layer's public API: inputs → chat records → checks → token ids and loss masks.
import { messagesConverter } from "./formats/messages.js";
import { RowIssues } from "./issues.js";
import type { ChatRecord } from "./record.js";

export type { ChatRecord, RecordMessage, RecordContentPart, ImagePart, SourcedRecord, RecordOrigin } from "./record.js";
export { messageText, messageImages, recordKey, toChatMessages } from "./record.js";
export { CONVERTERS, converterFor } from "./formats/index.js";
export type { Converter, ConvertOptions, ConvertedRecord } from "./formats/types.js";
export { RowIssues, type Problem } from "./issues.js";
export { readRows, readFileRows, listFiles, type SourceRow } from "./read/rows.js";
export { rowsFrame, recordsFrame } from "./read/frame.js";
export { verifyFile, checkRecord, type VerifyReport, type VerifyProblem, type VerifyOptions } from "./verify.js";
export { prepareDataset, type PrepareOptions, type PrepareReport } from "./prepare.js";
export { dedupe, sampleItems, splitTrainEval } from "./split.js";
export { summarize, histogram, recordLengths, classBalance } from "./stats.js";
export { datasetStats, type DatasetStats } from "./dataset-stats.js";
export { tokenizeRecord, tokenizeDataset, packRecords, assistantTurns } from "./tokenize.js";
export type { RenderFn, TokenizeOptions, TokenizedRecord, DroppedRecord, PackedRow, PackOptions, TokenizedDataset } from "./tokenize.js";
export { chatRender, loadModelText, recordTokenCounter, type ModelText } from "./model-text.js";
export { inferToolSchemas, normalizeTool, normalizeToolList, readToolsFile } from "./tools.js";
export { downloadHubDataset, type HubDatasetOptions } from "./sources/hf.js";
export { downloadRoboflowExport, type RoboflowExportOptions } from "./sources/roboflow.js";
export { resolveInput } from "./sources/resolve.js";
export { lengthHistogram, classBalanceChart, examplesTable, maskHtml, type PlotlyFigure } from "./plots.js";
export { augmentImage, drawAugmentParams, parseMultipliers, CAFICULBOT_RANGES, type AugmentParams } from "./images/augment.js";
export { loadRgb, resizeToModel, placeholderPng, writePlaceholder } from "./images/transform.js";
export { contactSheet } from "./images/contact-sheet.js";
export { findLabeledImages } from "./images/labeled.js";

/**
 * Reads a messages JSONL (as `data prepare` writes it) into records: checked like `data verify`
 * (the first invalid record is an InputError naming file and line), tool-call arguments as JSON
 * objects, image paths made absolute.
 */
export async function readRecords(file: string): Promise<ChatRecord[]> {
  return (await messagesConverter.convert(file, { issues: new RowIssues() })).map((r) => r.record);
}
