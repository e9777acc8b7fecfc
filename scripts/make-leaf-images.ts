// Writes data/leaf-images/: small generated pictures of coffee leaves in five classes, drawn as SVG and
// rendered to 64×64 PNG with sharp, plus labels.csv. A seeded generator varies the leaf's size, angle,
// shade and the position of its marks, so the same seed gives the same files and a tiny classifier has
// something real (colour and pattern) to learn. Layout: <class>/<n>.png (folder per class) and
// labels.csv (`path,label`, paths relative to the folder), so both image readers can be exercised.
// Usage: npx tsx scripts/make-leaf-images.ts [--seed 7] [--per-class 6] [--size 64] [--out data/leaf-images]
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";

/** mulberry32: a tiny, well-mixed 32-bit PRNG. */
function makeRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const between = (r: Rand, lo: number, hi: number) => lo + (hi - lo) * r();

/** A point inside the leaf blade (leaf coordinates: centred at 0,0, length along x from -40 to 40). */
function pointOnBlade(r: Rand): [number, number] {
  const x = between(r, -28, 28);
  const halfWidth = 16 * Math.sqrt(Math.max(0, 1 - (x / 40) ** 2));
  return [x, between(r, -halfWidth * 0.75, halfWidth * 0.75)];
}

/** What each class adds on top of the green blade. */
const CLASSES: Record<string, { blade: (r: Rand) => string; marks: (r: Rand) => string }> = {
  // healthy: an even, dark green blade.
  healthy: {
    blade: (r) =>
      `hsl(${between(r, 105, 125).toFixed(0)},${between(r, 45, 60).toFixed(0)}%,${between(r, 26, 34).toFixed(0)}%)`,
    marks: () => "",
  },
  // rust (roya): round orange-yellow powdery spots.
  rust: {
    blade: (r) => `hsl(${between(r, 100, 120).toFixed(0)},50%,${between(r, 28, 34).toFixed(0)}%)`,
    marks: (r) =>
      Array.from({ length: 4 + Math.floor(r() * 4) }, () => {
        const [x, y] = pointOnBlade(r);
        return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${between(r, 3, 5.5).toFixed(1)}" fill="hsl(${between(r, 28, 42).toFixed(0)},95%,55%)"/>`;
      }).join(""),
  },
  // cercospora (mancha de hierro): brown spots with a pale centre.
  cercospora: {
    blade: (r) => `hsl(${between(r, 100, 120).toFixed(0)},48%,${between(r, 28, 34).toFixed(0)}%)`,
    marks: (r) =>
      Array.from({ length: 3 + Math.floor(r() * 4) }, () => {
        const [x, y] = pointOnBlade(r);
        const rad = between(r, 3.5, 6);
        return (
          `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${rad.toFixed(1)}" fill="hsl(25,55%,25%)"/>` +
          `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${(rad * 0.45).toFixed(1)}" fill="hsl(40,40%,80%)"/>`
        );
      }).join(""),
  },
  // leaf miner (minador): pale, winding trails.
  "leaf-miner": {
    blade: (r) => `hsl(${between(r, 100, 120).toFixed(0)},50%,${between(r, 28, 34).toFixed(0)}%)`,
    marks: (r) =>
      Array.from({ length: 1 + Math.floor(r() * 2) }, () => {
        let [x, y] = pointOnBlade(r);
        let d = `M${x.toFixed(1)},${y.toFixed(1)}`;
        for (let i = 0; i < 4; i++) {
          const [nx, ny] = pointOnBlade(r);
          d += ` Q${((x + nx) / 2 + between(r, -8, 8)).toFixed(1)},${((y + ny) / 2 + between(r, -8, 8)).toFixed(1)} ${nx.toFixed(1)},${ny.toFixed(1)}`;
          [x, y] = [nx, ny];
        }
        return `<path d="${d}" fill="none" stroke="hsl(55,35%,82%)" stroke-width="${between(r, 2, 3.2).toFixed(1)}" stroke-linecap="round"/>`;
      }).join(""),
  },
  // nitrogen deficiency: the whole blade yellow-green, veins still green.
  "nitrogen-deficiency": {
    blade: (r) =>
      `hsl(${between(r, 58, 72).toFixed(0)},${between(r, 60, 75).toFixed(0)}%,${between(r, 50, 58).toFixed(0)}%)`,
    marks: () => "",
  },
};

function leafSvg(r: Rand, cls: (typeof CLASSES)[string], size: number): string {
  const angle = between(r, -40, 40);
  const scale = between(r, 0.62, 0.74) * (size / 64);
  const cx = size / 2 + between(r, -3, 3);
  const cy = size / 2 + between(r, -3, 3);
  const bg = `hsl(${between(r, 30, 45).toFixed(0)},${between(r, 15, 30).toFixed(0)}%,${between(r, 70, 85).toFixed(0)}%)`;
  const blade = "M-40,0 C-20,-22 20,-22 40,0 C20,22 -20,22 -40,0 Z";
  const veins = [-24, -12, 0, 12, 24]
    .map(
      (x) =>
        `<path d="M${x},0 L${x + 10},-11 M${x},0 L${x + 10},11" stroke="hsl(110,45%,22%)" stroke-width="0.8" fill="none"/>`,
    )
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">
<rect width="${size}" height="${size}" fill="${bg}"/>
<g transform="translate(${cx.toFixed(1)},${cy.toFixed(1)}) rotate(${angle.toFixed(1)}) scale(${scale.toFixed(3)})">
<clipPath id="blade"><path d="${blade}"/></clipPath>
<path d="${blade}" fill="${cls.blade(r)}"/>
<g clip-path="url(#blade)">${cls.marks(r)}</g>
<path d="M-44,0 L40,0" stroke="hsl(110,45%,22%)" stroke-width="1.4"/>${veins}
</g></svg>`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string", default: "7" },
      "per-class": { type: "string", default: "6" },
      size: { type: "string", default: "64" },
      out: { type: "string", default: "data/leaf-images" },
    },
  });
  const r = makeRandom(Number(values.seed));
  const out = values.out!;
  const size = Number(values.size);
  const perClass = Number(values["per-class"]);
  const labels = ["path,label"];
  for (const name of Object.keys(CLASSES)) {
    const dir = join(out, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (let i = 1; i <= perClass; i++) {
      const file = `${String(i).padStart(2, "0")}.png`;
      // compressionLevel 9 and no metadata keep the files small and byte-identical across runs.
      await sharp(Buffer.from(leafSvg(r, CLASSES[name]!, size)))
        .png({ compressionLevel: 9 })
        .toFile(join(dir, file));
      labels.push(`${name}/${file},${name}`);
    }
  }
  writeFileSync(join(out, "labels.csv"), labels.join("\n") + "\n");
  process.stdout.write(`wrote ${labels.length - 1} images to ${out}\n`);
}

await main();
