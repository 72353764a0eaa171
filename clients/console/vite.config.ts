/**
 * The console's build: a single-page app served by Lotty at /console/.
 * `npm run console:build` writes dist/console (hashed assets under
 * assets/); `npm run console:dev` serves it with Vite against a running
 * Lotty (LOTTY_URL, default http://127.0.0.1:8080), proxying the RPC paths
 * so the browser still sees one origin.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const here = path.dirname(fileURLToPath(import.meta.url));
const lotty = process.env.LOTTY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  root: here,
  base: "/console/",
  build: {
    outDir: path.resolve(here, "../../dist/console"),
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    // The whole app is one entry; the chart code is split off by route.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      onwarn(warning, warn) {
        // TanStack Query marks its modules "use client" (a React Server
        // Components hint); a browser-only bundle has nothing to preserve.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  server: {
    host: "127.0.0.1",
    port: Number(process.env.CONSOLE_DEV_PORT ?? 5173),
    strictPort: true,
    proxy: { "/lotty.": { target: lotty, changeOrigin: true } },
  },
  test: {
    root: here,
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
    // Counted by .ci/run next to jest's results.
    reporters: ["default", "json"],
    outputFile: { json: path.resolve(here, "../../dist/test-results/vitest.json") },
  },
});
