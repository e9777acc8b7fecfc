#!/usr/bin/env node
// The tunekit command line: a thin caller of lib/. Each concern registers its commands in commands/<concern>.ts.
import { Command } from "commander";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../util/paths.js";
import { COMMAND_MODULES } from "./commands/index.js";

const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
const program = new Command("tunekit")
  .description("Fine-tune small open LLMs with LoRA/QLoRA on ggml, export GGUF, evaluate before/after.")
  .version(pkg.version);
for (const register of COMMAND_MODULES) register(program);
await program.parseAsync(process.argv);
