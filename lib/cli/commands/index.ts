import type { Command } from "commander";

/** Every command module; each adds its commands to the program. */
export const COMMAND_MODULES: Array<(program: Command) => void> = [];
