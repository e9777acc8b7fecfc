// `tunekit vision info` and `tunekit vision encode` end to end through the CLI (separate from
// vision-gemma3.test.ts because each CLI start compiles the command tree with tsx, several seconds).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { VisionModel, preprocessImage, randomMmproj, saveMmproj } from "../../lib/models/vision/index.js";
import { PACKAGE_ROOT } from "../../lib/util/paths.js";

const dir = mkdtempSync(join(tmpdir(), "tunekit-vision-cli-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function mmproj(_: number) {
  const { config, tensors } = randomMmproj({ textEmbd: 64, seed: 11 });
  const path = join(dir, "mmproj.gguf");
  await saveMmproj(path, config, tensors);
  return { path, config };
}

test("tunekit vision info / encode through the CLI", async () => {
  const { path, config } = await mmproj(0);
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "lib/cli/main.ts", ...args], {
      encoding: "utf8",
      cwd: PACKAGE_ROOT,
    });
  const info = cli("vision", "info", "--mmproj", path, "--json");
  assert.equal(info.status, 0, info.stderr);
  assert.deepEqual(JSON.parse(info.stdout).config, { ...config, eps: Math.fround(1e-6) });
  const png = join(dir, "cli.png");
  const rgb = new Uint8Array(50 * 30 * 3).map((_, i) => (i * 53) % 256);
  writeFileSync(
    png,
    await sharp(rgb, { raw: { width: 50, height: 30, channels: 3 } })
      .png()
      .toBuffer(),
  );
  const out = join(dir, "cli.f32");
  const enc = cli("vision", "encode", "--mmproj", path, "--image", png, "--out", out, "--json");
  assert.equal(enc.status, 0, enc.stderr);
  assert.equal(JSON.parse(enc.stdout).imageTokens, 16);
  const model = VisionModel.load(path);
  try {
    const b = readFileSync(out);
    assert.deepEqual(
      new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4),
      model.encode(await preprocessImage(png, config)),
    );
  } finally {
    model.dispose();
  }
});
