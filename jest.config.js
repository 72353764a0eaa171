/** Jest runs the TypeScript sources as ES modules through @swc/jest. */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": [
      "@swc/jest",
      {
        jsc: { parser: { syntax: "typescript" }, target: "es2024" },
        module: { type: "es6" },
        sourceMaps: "inline",
      },
    ],
  },
  moduleNameMapper: {
    "^(\\.{1,2}/.*)\\.js$": "$1",
    // The in-repo source of the client package the OpenFeature provider depends on.
    "^@lotty/client$": "<rootDir>/clients/node/src/index.ts",
  },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  testTimeout: 60000,
  maxWorkers: 2,
  coverageDirectory: "coverage",
  collectCoverageFrom: ["src/**/*.ts", "clients/*/src/**/*.ts", "!clients/console/**"],
  coverageReporters: ["text-summary", "json-summary", "lcov"],
  // `npm run test:coverage` (what CI runs) fails below these figures.
  coverageThreshold: { global: { lines: 80, statements: 80 } },
};
