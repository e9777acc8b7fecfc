// The --format registry: every converter module, by name.
import { chatExportConverter } from "./chat-export.js";
import { functionCallingConverter } from "./function-calling.js";
import { imagesConverter } from "./images.js";
import { instructionConverter } from "./instruction.js";
import { messagesConverter } from "./messages.js";
import { qaConverter } from "./qa.js";
import { shareGptConverter } from "./sharegpt.js";
import { textConverter } from "./text.js";
import type { Converter } from "./types.js";
import { TunekitError } from "../../util/errors.js";

/** Every input format, by `--format` name. */
export const CONVERTERS: Record<string, Converter> = Object.fromEntries(
  [qaConverter, functionCallingConverter, instructionConverter, chatExportConverter, shareGptConverter, messagesConverter, textConverter, imagesConverter].map(
    (c) => [c.name, c],
  ),
);

/** The converter for a `--format` name, or a TunekitError listing the known ones. */
export function converterFor(name: string): Converter {
  const c = CONVERTERS[name];
  if (!c) throw new TunekitError(`unknown --format "${name}" (known: ${Object.keys(CONVERTERS).join(", ")})`);
  return c;
}
