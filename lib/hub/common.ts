// Shared pieces of the hub commands: repo names, the token (HF_TOKEN, never printed), the hub URL
// (HF_ENDPOINT, as Python's huggingface_hub), globs for --include, and keeping @huggingface/hub's
// console.debug progress lines off stdout.
import { TunekitError } from "../util/errors.js";

/** Kinds of repository tunekit pulls and pushes. */
export type HubRepoType = "model" | "dataset";

/** A repository in @huggingface/hub's RepoId shape. */
export interface HubRepo {
  type: HubRepoType;
  /** "owner/name". */
  name: string;
}

/** Parses "owner/name" (or "datasets/owner/name") with an explicit type taking precedence. */
export function parseRepo(repo: string, repoType?: HubRepoType): HubRepo {
  let name = repo.trim();
  let type: HubRepoType = repoType ?? "model";
  if (name.startsWith("datasets/")) {
    name = name.slice("datasets/".length);
    type = repoType ?? "dataset";
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(name))
    throw new TunekitError(`repository "${repo}" must look like owner/name`);
  return { type, name };
}

/** The access token: the given one, else HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN). */
export function hubToken(explicit?: string): string | undefined {
  const t = explicit ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  return t && t.trim() ? t.trim() : undefined;
}

/** The hub URL: the given one, else HF_ENDPOINT, else https://huggingface.co. */
export function hubUrl(explicit?: string): string {
  return (explicit ?? process.env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
}

/** Whether HF_HUB_OFFLINE asks for cache-only operation. */
export function offlineFromEnv(): boolean {
  return /^(1|true|yes|on)$/i.test(process.env.HF_HUB_OFFLINE ?? "");
}

/** Removes a token from a message before it is shown. */
export function redact(text: string, token: string | undefined): string {
  return token ? text.split(token).join("hf_***") : text;
}

/** Turns a library error into a TunekitError with the token removed from its message. */
export function hubError(what: string, err: unknown, token: string | undefined): TunekitError {
  const e = err as { message?: string; statusCode?: number };
  const status = e.statusCode ? ` (HTTP ${e.statusCode})` : "";
  return new TunekitError(redact(`${what}${status}: ${e.message ?? String(err)}`, token));
}

/** A glob (`*` within a path segment, `**` across segments, `?`, `{a,b}`) as a regular expression. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const slash = glob[i + 2] === "/";
        re += slash ? "(?:.*/)?" : ".*";
        i += slash ? 2 : 1;
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "{") {
      const end = glob.indexOf("}", i);
      if (end < 0) re += "\\{";
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(",")
          .map((s) => s.replace(/[.+^$()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*"))
          .join("|")})`;
        i = end;
      }
    } else re += c.replace(/[.+^$()|[\]\\}]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Whether a repo path matches any of the globs (a glob without "/" also matches the file name anywhere). */
export function matchesAny(path: string, globs: readonly string[]): boolean {
  return globs.some((g) => {
    const re = globToRegExp(g);
    return re.test(path) || (!g.includes("/") && re.test(path.split("/").pop()!));
  });
}

/** Runs `fn` with console.debug silenced: @huggingface/hub logs each download there, i.e. on stdout. */
export async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const debug = console.debug;
  console.debug = () => undefined;
  try {
    return await fn();
  } finally {
    console.debug = debug;
  }
}
