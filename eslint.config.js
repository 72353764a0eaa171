import js from "@eslint/js";
import tseslint from "typescript-eslint";
import reactHooks from "eslint-plugin-react-hooks";

/** Another module's service.ts or entities.ts, imported from inside src/<module>/. */
const MODULE_PRIVATE = {
  regex: "^\\.\\./[^./][^/]*/(service|entities)(\\.js)?$",
  message:
    "service.ts and entities.ts are private to their module: import its lookup.ts/index.ts or its command functions (e.g. transitions.ts) instead.",
};
/**
 * Anything of another module but its face (lookup.ts, index.ts) and its
 * command functions (transitions.ts), imported from inside src/<module>/.
 * platform/ and the pure libraries stats/ and targeting/ are open to all;
 * service.ts and entities.ts are left to MODULE_PRIVATE (one message each).
 */
const MODULE_FACES = {
  regex:
    "^\\.\\./(?!(platform|stats|targeting)/)[^./][^/]*/(?!(lookup|index|transitions|service|entities)(\\.js)?$)",
  message:
    "Other modules are reached only through their face: lookup.ts/index.ts or command functions (transitions.ts); platform/, stats/ and targeting/ are open to all.",
};
/** Anything outside src/platform/ except the generated code: domain modules, migrations/, the composition root. */
const PLATFORM_GROUND_FLOOR = {
  regex: "^\\.\\./(?!\\.\\./gen/)",
  message:
    "src/platform is the ground floor: it imports no domain module, no migrations and not the composition root (wire them in src/*.ts).",
};

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "gen/", "coverage/", ".lotty/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  // Module boundaries (docs/architecture.md#modules): another module's
  // service.ts (its RPC handler) and entities.ts (its tables) are private to
  // it; other modules use its face (lookup.ts or index.ts, and command
  // functions such as transitions.ts). src/platform is the ground floor and
  // imports no domain module (nor migrations/ or the composition root).
  // src/cli/ holds entry points, like the composition root: it may use a
  // module's maintenance commands (analytics/index.ts: rebuildRollups) but, building no
  // service, still not its service.ts or entities.ts.
  {
    files: ["src/*/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [MODULE_PRIVATE, MODULE_FACES] }],
    },
  },
  {
    files: ["src/cli/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [MODULE_PRIVATE] }] },
  },
  {
    files: ["src/platform/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [MODULE_PRIVATE, PLATFORM_GROUND_FLOOR] }],
    },
  },
  {
    // The console runs in the browser: React hooks rules and browser globals.
    files: ["clients/console/src/**/*.{ts,tsx}"],
    plugins: { "react-hooks": reactHooks },
    rules: reactHooks.configs.recommended.rules,
    languageOptions: {
      globals: {
        window: "readonly",
        document: "readonly",
        location: "readonly",
        navigator: "readonly",
        sessionStorage: "readonly",
        URL: "readonly",
        Blob: "readonly",
        Image: "readonly",
        XMLSerializer: "readonly",
        HTMLElement: "readonly",
        SVGSVGElement: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        AbortController: "readonly",
      },
    },
  },
);
