// The embedded default: a small base model the repository makes itself (scripts/make-default-model.ts)
// from its own text, and the sample data prepared for it, so that `npm start`, the recipes and the
// notebooks run offline with nothing downloaded.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TunekitError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";

/** Folder of the default model, its README and build report. */
export const DEFAULT_MODEL_DIR = join(PACKAGE_ROOT, "data", "default-model");

/** The default base model (llama architecture, byte-level BPE with ChatML, f16). */
export const DEFAULT_MODEL = join(DEFAULT_MODEL_DIR, "default-model.gguf");

/** Prepared sample datasets (train.jsonl / eval.jsonl per dataset), written by the same script. */
export const PREPARED_DATA_DIR = join(PACKAGE_ROOT, "data", "prepared");

/**
 * ChatML (the format of Qwen and many others): `<|im_start|>role\ncontent<|im_end|>\n` per message; tools,
 * when offered, go into the system turn as JSON lines and tool calls are written as
 * `<tool_call>{"name": …, "arguments": …}</tool_call>` (as Qwen 2.5 does).
 */
export const CHATML_TEMPLATE = [
  "{%- if tools %}",
  "{{- '<|im_start|>system\\n' }}",
  "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}",
  "{{- 'You can call these tools:\\n' }}",
  "{%- for tool in tools %}{{- (tool | tojson) + '\\n' }}{%- endfor %}",
  '{{- \'Answer a call as <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>\\n\' }}',
  "{%- endif %}",
  "{%- for message in messages %}",
  "{%- if not (tools and loop.first and message['role'] == 'system') %}",
  "{{- '<|im_start|>' + message['role'] + '\\n' }}",
  "{%- if message['content'] %}{{- message['content'] }}{%- endif %}",
  "{%- if message['tool_calls'] %}",
  "{%- for call in message['tool_calls'] %}",
  "{%- set f = call['function'] if call['function'] else call %}",
  "{{- '<tool_call>{\"name\": \"' + f['name'] + '\", \"arguments\": ' }}",
  "{%- if f['arguments'] is string %}{{- f['arguments'] }}{%- else %}{{- f['arguments'] | tojson }}{%- endif %}",
  "{{- '}</tool_call>' }}",
  "{%- endfor %}",
  "{%- endif %}",
  "{{- '<|im_end|>\\n' }}",
  "{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join("");

/** The default model's path; a clear error when the file is missing (e.g. a partial checkout). */
export function defaultModelPath(): string {
  if (!existsSync(DEFAULT_MODEL))
    throw new TunekitError(
      `the embedded default model is missing (${DEFAULT_MODEL}); rebuild it with: npx tsx scripts/make-default-model.ts`,
    );
  return DEFAULT_MODEL;
}
