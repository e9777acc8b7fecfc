// llama.cpp's own convert_hf_to_gguf.py as an independent check of tunekit's Hugging Face export. The
// source is the llama.cpp release node-llama-cpp ships (node_modules/node-llama-cpp/llama/gitRelease.bundle,
// cloned once into os.tmpdir()), or /work/llama-src/src when present. Python needs numpy, torch and
// sentencepiece (Debian: python3-numpy python3-torch python3-sentencepiece); transformers is not needed:
// a shim makes the converter's AutoConfig fail so it reads config.json itself (its own fallback), stubs
// tqdm (progress bars only) and names the float8 dtypes an older torch lacks (tables only; the checkpoints
// here are f32/f16/bf16).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

const BUNDLE = join(PACKAGE_ROOT, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
const LOCAL = "/work/llama-src/src";

/** A folder with convert_hf_to_gguf.py and gguf-py of the bundled llama.cpp, or undefined. */
export function llamaSourceDir(): string | undefined {
  if (existsSync(join(LOCAL, "convert_hf_to_gguf.py"))) return LOCAL;
  if (!existsSync(BUNDLE)) return undefined;
  const head = execFileSync("git", ["bundle", "list-heads", BUNDLE]).toString().slice(0, 12);
  const dir = join(tmpdir(), `tunekit-llama-src-${head}`);
  if (existsSync(join(dir, "convert_hf_to_gguf.py"))) return dir;
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  execFileSync("git", ["-c", "advice.detachedHead=false", "clone", "-q", BUNDLE, tmp]);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process got there first
  }
  return dir;
}

/** A python3 that imports numpy, torch and sentencepiece (Debian's /usr/bin/python3 first), or undefined. */
export function converterPython(): string | undefined {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(py, ["-c", "import numpy, torch, sentencepiece"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return undefined;
}

const SHIM: Record<string, string> = {
  "transformers/__init__.py": `# test shim: no transformers here; AutoConfig fails so the converter reads config.json itself
import torch
for _n in ["float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", "uint16", "uint32", "uint64"]:
    if not hasattr(torch, _n):
        setattr(torch, _n, type("missing_" + _n, (), {})())
class AutoConfig:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise ImportError("transformers is not installed (test shim)")
class AutoTokenizer:
    @staticmethod
    def from_pretrained(*args, **kwargs):
        raise ImportError("transformers is not installed (test shim): byte-level BPE vocabularies need it")
`,
  "tqdm/__init__.py": `# test shim: progress bars off
class tqdm:
    def __init__(self, *args, **kwargs): pass
    def update(self, *args, **kwargs): pass
    def reset(self, *args, **kwargs): pass
    def set_description(self, *args, **kwargs): pass
    def close(self): pass
`,
};

function shimDir(): string {
  const dir = join(tmpdir(), "tunekit-convert-shim-v1");
  for (const [name, text] of Object.entries(SHIM)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Why the converter cannot run here, or undefined when it can. */
export function converterUnavailable(): string | undefined {
  if (!converterPython()) return "no python3 with numpy, torch and sentencepiece";
  try {
    if (!llamaSourceDir()) return "no llama.cpp source (node-llama-cpp's gitRelease.bundle is absent)";
  } catch (e) {
    return `cannot clone the llama.cpp bundle: ${(e as Error).message}`;
  }
  return undefined;
}

/** One conversion: checkpoint folder → GGUF file of outtype f32/f16/bf16. */
export interface ConvertJob {
  dir: string;
  out: string;
  outtype?: "f32" | "f16" | "bf16";
}

/**
 * Runs convert_hf_to_gguf.py on each checkpoint, all in one Python process (importing the converter takes
 * seconds; its main() is called once per job with that job's command line). Returns the log.
 */
export function convertWithLlamaCpp(jobs: ConvertJob[]): string {
  const src = llamaSourceDir()!;
  const driver = [
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(src)})`,
    "import convert_hf_to_gguf",
    "for j in json.loads(sys.argv[1]):",
    "    sys.argv = ['convert_hf_to_gguf.py', j['dir'], '--outfile', j['out'], '--outtype', j.get('outtype') or 'f32']",
    "    convert_hf_to_gguf.main()",
  ].join("\n");
  const r = spawnSync(converterPython()!, ["-c", driver, JSON.stringify(jobs)], {
    cwd: src,
    env: { ...process.env, PYTHONPATH: [shimDir(), join(src, "gguf-py")].join(":"), NO_LOCAL_GGUF: "1" },
    encoding: "utf8",
  });
  if (r.status !== 0)
    throw new Error(`convert_hf_to_gguf.py failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return r.stderr;
}
