/**
 * Runs once before all test files: compiles dist/ (incrementally), which the
 * tests that start Lotty as a child process run, exactly as `npm start` does,
 * and builds the console into dist/console when its sources changed (the
 * console and server tests load it from there).
 */
import { execFileSync } from "node:child_process";
import path from "node:path";

export default async function globalSetup(): Promise<void> {
  const tsc = path.resolve("node_modules", ".bin", "tsc");
  execFileSync(tsc, ["-p", "tsconfig.build.json"], { stdio: "inherit" });
  execFileSync(process.execPath, [path.resolve("clients/console/scripts/build.mjs"), "--quiet"], {
    stdio: "inherit",
  });
}
