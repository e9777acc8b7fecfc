import type { Command } from "commander";
import { register as gguf } from "./gguf.js";

/** Every command module; each adds its commands to the program. */
export const COMMAND_MODULES: Array<(program: Command) => void> = [gguf];
