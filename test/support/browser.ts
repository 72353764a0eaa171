/**
 * A headless Chromium that comes with `npm ci`: @sparticuz/chromium ships
 * the browser inside its npm package (unpacked to a temporary directory on
 * first use) and playwright-core drives it. Nobody has to install a browser.
 * CHROMIUM_PATH points the tests at another Chromium instead.
 */
import sparticuz from "@sparticuz/chromium";
import { chromium, type Browser } from "playwright-core";

/**
 * The package's flags are tuned for serverless hosts; the ones that switch
 * off the browser's security model are left out, so tests see what a real
 * browser enforces (CORS, mixed content).
 */
const UNSAFE_FLAGS = new Set([
  "--disable-web-security",
  "--allow-running-insecure-content",
  "--disable-site-isolation-trials",
  // One process for everything dies with its first closed context.
  "--single-process",
]);

export function browserArgs(): string[] {
  return sparticuz.args.filter((arg) => !UNSAFE_FLAGS.has(arg));
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? (await sparticuz.executablePath());
  return chromium.launch({ executablePath, args: browserArgs(), headless: true });
}
