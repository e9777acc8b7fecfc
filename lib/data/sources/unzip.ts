// A small ZIP reader (stored and deflate entries, no ZIP64) for Roboflow exports, which come as .zip.
// Entry names that would leave the target folder are refused.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { crc32, inflateRawSync } from "node:zlib";
import { InputError } from "../../util/errors.js";
import { insideFolder } from "../verify.js";

/** One file of an archive. */
export interface ZipEntry {
  /** Path inside the archive ("/" separators). */
  name: string;
  /** Uncompressed bytes. */
  data: Buffer;
}

/** Reads every file entry of a ZIP archive (directories are skipped); CRC-32 is checked. */
export function readZip(zip: Buffer, file = "archive.zip"): ZipEntry[] {
  const fail = (msg: string): never => {
    throw new InputError(`not a readable ZIP: ${msg}`, { file });
  };
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail("no end-of-central-directory record");
  const count = zip.readUInt16LE(eocd + 10);
  const cdOffset = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff) fail("ZIP64 archives are not supported");
  const out: ZipEntry[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== 0x02014b50) fail(`bad central directory entry ${k}`);
    const flags = zip.readUInt16LE(p + 8);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const csize = zip.readUInt32LE(p + 20);
    const usize = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString(flags & 0x800 ? "utf8" : "latin1");
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith("/")) continue;
    if (flags & 1) fail(`"${name}" is encrypted`);
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50) fail(`bad local header for "${name}"`);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + csize);
    let data: Buffer;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) {
      try {
        data = inflateRawSync(raw);
      } catch (err) {
        data = fail(`"${name}" does not inflate: ${(err as Error).message}`);
      }
    }
    else data = fail(`"${name}" uses compression method ${method} (only stored and deflate are supported)`);
    if (data.length !== usize || crc32(data) >>> 0 !== crc) fail(`"${name}" is corrupt (size or CRC-32 mismatch)`);
    out.push({ name, data });
  }
  return out;
}

/** Extracts a ZIP into `dir`; an entry whose path leaves `dir` is an error (nothing is written then). */
export function extractZip(zip: Buffer, dir: string, file = "archive.zip"): string[] {
  const entries = readZip(zip, file);
  const root = resolve(dir);
  const targets = entries.map((e) => {
    const target = resolve(root, e.name.replace(/\\/g, "/"));
    if (!insideFolder(root, target) || target === root) throw new InputError(`entry "${e.name}" would be written outside the target folder`, { file });
    return target;
  });
  entries.forEach((e, i) => {
    mkdirSync(dirname(targets[i]!), { recursive: true });
    writeFileSync(targets[i]!, e.data);
  });
  return entries.map((e) => e.name);
}
