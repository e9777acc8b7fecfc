// Finding a Python with Jupyter and making sure the tslab kernel is registered with it.
// Jupyter comes from Debian's packages (jupyter-nbconvert python3-nbclient jupyter-client
// python3-ipykernel); `python3` on PATH may be another Python (pyenv, conda) without them, so Debian's
// /usr/bin/python3 is tried first.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TunekitError } from "../util/errors.js";
import { PACKAGE_ROOT } from "../util/paths.js";

/** Environment variable that names the Python to use for Jupyter. */
export const JUPYTER_PYTHON_ENV = "TUNEKIT_JUPYTER_PYTHON";

/** Environment for Python children: quiets ipykernel's debugger warning about frozen modules. */
export function pythonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: "1", ...extra };
}

function hasJupyter(python: string): boolean {
  const r = spawnSync(python, ["-c", "import nbclient, nbformat, jupyter_client"], {
    env: pythonEnv(),
    stdio: "ignore",
    timeout: 60_000,
  });
  return r.status === 0;
}

/**
 * The Python that can execute notebooks: `preferred`, else $TUNEKIT_JUPYTER_PYTHON, else
 * /usr/bin/python3, else python3 on PATH — the first that imports nbclient, nbformat and jupyter_client.
 * Undefined when none does.
 */
export function findJupyterPython(preferred?: string): string | undefined {
  const candidates = [preferred, process.env[JUPYTER_PYTHON_ENV], "/usr/bin/python3", "python3"];
  return candidates.find((p): p is string => !!p && hasJupyter(p));
}

/** Like {@link findJupyterPython}, but throws a TunekitError that says how to install Jupyter. */
export function requireJupyterPython(preferred?: string): string {
  const python = findJupyterPython(preferred);
  if (!python)
    throw new TunekitError(
      "no Python with Jupyter found (tried " +
        [preferred, process.env[JUPYTER_PYTHON_ENV], "/usr/bin/python3", "python3"]
          .filter(Boolean)
          .join(", ") +
        "). On Debian/Ubuntu: apt-get install jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel",
    );
  return python;
}

/** A registered kernel spec (the parts we use). */
export interface KernelSpecInfo {
  /** Folder holding kernel.json. */
  resourceDir: string;
  /** The command Jupyter runs to start the kernel. */
  argv: string[];
}

/** The kernel specs `python`'s Jupyter knows, by name. */
export function listKernelSpecs(python: string): Record<string, KernelSpecInfo> {
  const code =
    "import json\nfrom jupyter_client.kernelspec import KernelSpecManager\n" +
    "specs = KernelSpecManager().get_all_specs()\n" +
    "print(json.dumps({k: {'resourceDir': v['resource_dir'], 'argv': v['spec']['argv']} for k, v in specs.items()}))";
  const r = spawnSync(python, ["-c", code], { env: pythonEnv(), encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new TunekitError(`${python}: listing Jupyter kernels failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Record<string, KernelSpecInfo>;
}

/** What {@link ensureTslabKernel} found or did. */
export interface TslabKernelStatus {
  /** True when this call registered the kernel. */
  installed: boolean;
  /** The kernel's start command (argv[0] is the tslab launcher). */
  argv: string[];
  /** Where kernel.json is. */
  resourceDir: string;
}

/** node_modules/.bin/tslab of this package, as an absolute path. */
export function localTslabBinary(): string {
  return join(PACKAGE_ROOT, "node_modules", ".bin", "tslab");
}

/**
 * Makes sure Jupyter has a `tslab` kernel whose launcher exists. A kernel registered from another
 * checkout is fine as long as its launcher exists: tslab's launcher hands over to the tslab found in
 * the notebook folder's node_modules. Otherwise registers this package's tslab with
 * `tslab install --python=<python> --binary=<absolute node_modules/.bin/tslab>`.
 */
export function ensureTslabKernel(python: string): TslabKernelStatus {
  const current = listKernelSpecs(python).tslab;
  if (current && current.argv[0] && existsSync(current.argv[0]))
    return { installed: false, argv: current.argv, resourceDir: current.resourceDir };
  const binary = localTslabBinary();
  if (!existsSync(binary)) throw new TunekitError(`${binary} does not exist: run npm install first`);
  const r = spawnSync(binary, ["install", `--python=${python}`, `--binary=${binary}`], {
    env: pythonEnv(),
    encoding: "utf8",
    timeout: 120_000,
  });
  if (r.status !== 0)
    throw new TunekitError(
      `registering the tslab kernel failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`,
    );
  const after = listKernelSpecs(python).tslab;
  if (!after)
    throw new TunekitError(`tslab install ran but Jupyter (${python}) still lists no "tslab" kernel`);
  return { installed: true, argv: after.argv, resourceDir: after.resourceDir };
}
