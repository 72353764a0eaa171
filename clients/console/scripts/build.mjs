/**
 * Builds the console into dist/console unless its inputs are unchanged since
 * the last build (`npm start` calls this on every start). The inputs are the
 * console's sources and config, the generated contract code, the shared
 * access table, the lock file and this script; their hash is stored next to
 * the build. The build is always a production one.
 *
 *   node clients/console/scripts/build.mjs          build if changed
 *   node clients/console/scripts/build.mjs --force  always build
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const consoleDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const repo = path.resolve(consoleDir, "../..");
const outDir = path.join(repo, "dist", "console");
const stampFile = path.join(outDir, ".inputs-sha256");

const INPUTS = [
  "clients/console/index.html",
  "clients/console/vite.config.ts",
  "clients/console/src",
  "gen/lotty",
  "src/platform/access-policy.ts",
  "package-lock.json",
  "clients/console/scripts/build.mjs",
];

function files(relative) {
  const full = path.join(repo, relative);
  if (!existsSync(full)) return [];
  if (statSync(full).isFile()) return [relative];
  return readdirSync(full, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => files(path.join(relative, entry.name)))
    .filter((file) => !/\.test\.tsx?$/.test(file));
}

function inputsHash() {
  const hash = createHash("sha256");
  for (const file of INPUTS.flatMap(files)) {
    hash
      .update(file)
      .update("\0")
      .update(readFileSync(path.join(repo, file)))
      .update("\0");
  }
  return hash.digest("hex");
}

/**
 * Writes `<file>.br` and `<file>.gz` at the highest settings next to every
 * text file, so the server sends the smallest encoding without spending a
 * second of CPU on the first request.
 */
function precompress(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      precompress(file);
      continue;
    }
    if (!/\.(js|css|html|svg|json)$/.test(entry.name)) continue;
    const content = readFileSync(file);
    if (content.length <= 512) continue;
    writeFileSync(`${file}.gz`, zlib.gzipSync(content, { level: 9 }));
    writeFileSync(
      `${file}.br`,
      zlib.brotliCompressSync(content, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }),
    );
  }
}

const force = process.argv.includes("--force");
const digest = inputsHash();
const upToDate =
  !force &&
  existsSync(path.join(outDir, "index.html")) &&
  existsSync(stampFile) &&
  readFileSync(stampFile, "utf8").trim() === digest;

if (upToDate) {
  if (!process.argv.includes("--quiet")) console.error("console: up to date (dist/console)");
} else {
  const started = Date.now();
  // Always a production build, whatever NODE_ENV the caller runs with: jest
  // sets NODE_ENV=test, and Vite honours it, so a build made by the tests was
  // React's development build (677 kB instead of 451 kB), which a later
  // `npm start` would then serve as up to date.
  process.env.NODE_ENV = "production";
  const { build } = await import("vite");
  await build({
    configFile: path.join(consoleDir, "vite.config.ts"),
    mode: "production",
    logLevel: "warn",
  });
  precompress(outDir);
  writeFileSync(stampFile, `${digest}\n`);
  console.error(`console: built dist/console in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
