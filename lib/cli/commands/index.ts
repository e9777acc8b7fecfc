import type { Command } from "commander";
import { register as gguf } from "./gguf.js";
import { register as engine } from "./engine.js";
import { register as models } from "./models.js";
import { register as notebooks } from "./notebooks.js";
import { register as evaluation } from "./eval.js";
import { register as serving } from "./serve.js";
import { register as hub } from "./hub.js";
import { register as inference } from "./inference.js";
import { register as data } from "./data.js";
import { register as quickstart } from "./quickstart.js";
import { register as training } from "./train.js";
import { register as exporting } from "./export.js";
import { register as vision } from "./vision.js";

/** Every command module; each adds its commands to the program. */
export const COMMAND_MODULES: Array<(program: Command) => void> = [
  gguf,
  engine,
  models,
  notebooks,
  evaluation,
  serving,
  hub,
  inference,
  data,
  training,
  exporting,
  vision,
  quickstart,
];
