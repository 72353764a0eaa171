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

/**
 * The decide core (docs/architecture.md#the-decide-core) is pure so that
 * other processes can evaluate in-process with it (the Node client): no
 * server-only package, no node: module but node:crypto, no transport.
 * Type-only imports count too: they pull the file into a client's build.
 */
const CORE_PACKAGES = {
  regex: "^(@mikro-orm/|pg$|pg-|@nats-io/|prom-client$|pino$|pino-|@connectrpc/|node:(?!crypto$))",
  message:
    "The decide core is pure: no database, bus, metrics, logging or transport package, no node: module but node:crypto (docs/architecture.md#the-decide-core).",
};
/** From src/decision/core/: itself, the pure decide files, targeting/ and the generated code. */
const CORE_DIR_RELATIVE = {
  regex:
    "^\\.\\./(?!(bucketing|eligibility|types|decision-id)\\.js$|\\.\\./targeting/|\\.\\./\\.\\./gen/)",
  message:
    "The decide core imports only itself, bucketing.ts, eligibility.ts, types.ts, decision-id.ts, src/targeting/ and gen/ (docs/architecture.md#the-decide-core).",
};
/** From the pure files of src/decision/: each other, core/, targeting/ and the generated code. */
const CORE_FILES_RELATIVE = {
  regex:
    "^(\\./(?!(bucketing|eligibility|types|decision-id)\\.js$|core/)|\\.\\./(?!targeting/|\\.\\./gen/))",
  message: CORE_DIR_RELATIVE.message,
};
/** src/targeting/ is pure and self-contained. */
const TARGETING_RELATIVE = {
  regex: "^\\.\\./",
  message: "src/targeting is pure and self-contained: it imports only its own files.",
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
  // The decide core and the pure files it uses: nothing server-only.
  {
    files: ["src/decision/core/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [CORE_PACKAGES, CORE_DIR_RELATIVE] }],
    },
  },
  {
    files: [
      "src/decision/bucketing.ts",
      "src/decision/eligibility.ts",
      "src/decision/types.ts",
      "src/decision/decision-id.ts",
    ],
    rules: {
      "no-restricted-imports": ["error", { patterns: [CORE_PACKAGES, CORE_FILES_RELATIVE] }],
    },
  },
  {
    files: ["src/targeting/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [CORE_PACKAGES, TARGETING_RELATIVE] }],
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
