/**
 * The module boundaries of docs/architecture.md#modules are enforced by
 * ESLint (no-restricted-imports in eslint.config.js): these cases prove the
 * rule bites, and that what is allowed stays allowed.
 */
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { ESLint } from "eslint";

const root = path.resolve(import.meta.dirname, "../..");
const eslint = new ESLint({ cwd: root, overrideConfigFile: path.join(root, "eslint.config.js") });

/** The no-restricted-imports messages for `code` as if it were the file `file` (relative to the repo). */
async function restrictedImports(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result!.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("module boundaries (lint)", () => {
  it("refuses another module's service.ts", async () => {
    const messages = await restrictedImports(
      "src/guardrails/x.ts",
      'import { runTransition } from "../experiments/service.js";\nexport { runTransition };\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("private to their module");
  });

  it("refuses another module's entities.ts, type-only imports and re-exports included", async () => {
    const messages = await restrictedImports(
      "src/reports/x.ts",
      [
        'import type { GuardrailConfig } from "../experiments/entities.js";',
        'export { Flag } from "../flags/entities.js";',
        "export type { GuardrailConfig };",
        "",
      ].join("\n"),
    );
    expect(messages).toHaveLength(2);
  });

  it("allows a module's own service.ts and entities.ts, and other modules' faces", async () => {
    const messages = await restrictedImports(
      "src/experiments/x.ts",
      [
        'import { ExperimentServiceImpl } from "./service.js";',
        'import { Experiment } from "./entities.js";',
        'import { requireActiveFlag } from "../flags/lookup.js";',
        'import { runTransition } from "./transitions.js";',
        "export { ExperimentServiceImpl, Experiment, requireActiveFlag, runTransition };",
        "",
      ].join("\n"),
    );
    expect(messages).toEqual([]);
  });

  it("refuses any other file of another module than its face or its command functions", async () => {
    const messages = await restrictedImports(
      "src/events/x.ts",
      [
        'import { MAX_DECISION_ID_LENGTH } from "../decision/decision-id.js";',
        'import type { SnapshotStore } from "../decision/snapshot.js";',
        'export { reviewPolicyFor } from "../access/review-policy.js";',
        'import { rebuildRollups } from "../reports/rebuild.js";',
        "export { MAX_DECISION_ID_LENGTH, rebuildRollups };",
        "export type { SnapshotStore };",
        "",
      ].join("\n"),
    );
    expect(messages).toHaveLength(4);
    for (const message of messages) expect(message).toContain("through their face");
  });

  it("allows every module lookup.ts, index.ts, transitions.ts, platform/, stats/ and targeting/", async () => {
    const messages = await restrictedImports(
      "src/events/x.ts",
      [
        'import { MAX_DECISION_ID_LENGTH } from "../decision/lookup.js";',
        'import { reviewPolicyFor } from "../access/lookup.js";',
        'import { runTransition } from "../experiments/transitions.js";',
        'import { mean } from "../stats/index.js";',
        'import { percentile } from "../stats/percentiles.js";',
        'import { compileRule } from "../targeting/index.js";',
        'import { parse } from "../targeting/parser.js";',
        'import { notFound } from "../platform/errors.js";',
        'import { EventService } from "../../gen/lotty/events/v1/events_pb.js";',
        'import { encodeMessages } from "./message.js";',
        "export { MAX_DECISION_ID_LENGTH, reviewPolicyFor, runTransition, mean, percentile };",
        "export { compileRule, parse, notFound, EventService, encodeMessages };",
        "",
      ].join("\n"),
    );
    expect(messages).toEqual([]);
  });

  it("reports another module's service.ts or entities.ts once, as private", async () => {
    const messages = await restrictedImports(
      "src/events/x.ts",
      'import { Flag } from "../flags/entities.js";\nexport { Flag };\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("private to their module");
  });

  it("lets the command-line entry points in src/cli use a module's maintenance commands, not its service.ts", async () => {
    const messages = await restrictedImports(
      "src/cli/x.ts",
      [
        'import { rebuildRollups } from "../reports/rebuild.js";',
        'import { ReportServiceImpl } from "../reports/service.js";',
        "export { rebuildRollups, ReportServiceImpl };",
        "",
      ].join("\n"),
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("private to their module");
  });

  it("refuses any domain module, migrations and the composition root in src/platform", async () => {
    const messages = await restrictedImports(
      "src/platform/x.ts",
      [
        'import { findFlag } from "../flags/lookup.js";',
        'import { mean } from "../stats/index.js";',
        'import { migrationsList } from "../../migrations/index.js";',
        'import { openOrm } from "../orm.js";',
        "export { findFlag, mean, migrationsList, openOrm };",
        "",
      ].join("\n"),
    );
    expect(messages).toHaveLength(4);
    expect(messages[0]).toContain("ground floor");
  });

  it("allows src/platform its own files and the generated code", async () => {
    const messages = await restrictedImports(
      "src/platform/x.ts",
      [
        'import { notFound } from "./errors.js";',
        'import { Role } from "../../gen/lotty/access/v1/access_pb.js";',
        "export { notFound, Role };",
        "",
      ].join("\n"),
    );
    expect(messages).toEqual([]);
  });

  it("keeps the decide core free of server-only imports, type-only ones included", async () => {
    const messages = await restrictedImports(
      "src/decision/core/x.ts",
      [
        'import type { EntityManager } from "@mikro-orm/core";',
        'import pg from "pg";',
        'import { connect } from "@nats-io/transport-node";',
        'import { Counter } from "prom-client";',
        'import type { Logger } from "../../platform/logging.js";',
        'import { SnapshotStore } from "../snapshot.js";',
        'import type { FlagValueType } from "../../flags/lookup.js";',
        'import { readFile } from "node:fs";',
        'import { ConnectError } from "@connectrpc/connect";',
        "export type { EntityManager, Logger, FlagValueType };",
        "export { pg, connect, Counter, SnapshotStore, readFile, ConnectError };",
        "",
      ].join("\n"),
    );
    expect(messages).toHaveLength(9);
    for (const message of messages) expect(message).toContain("decide core");
  });

  it("lets the decide core use itself, the pure decide files, targeting/, gen/ and node:crypto", async () => {
    const messages = await restrictedImports(
      "src/decision/core/x.ts",
      [
        'import { compileSnapshot } from "./compile.js";',
        'import { bucketOf } from "../bucketing.js";',
        'import { claimExperiment } from "../eligibility.js";',
        'import type { Snapshot } from "../types.js";',
        'import type { DecisionSigner } from "../decision-id.js";',
        'import { parseRule } from "../../targeting/index.js";',
        'import { DecisionReason } from "../../../gen/lotty/decision/v1/decision_pb.js";',
        'import { createHash } from "node:crypto";',
        'import { fromJson } from "@bufbuild/protobuf";',
        "export type { Snapshot, DecisionSigner };",
        "export { compileSnapshot, bucketOf, claimExperiment, parseRule, DecisionReason };",
        "export { createHash, fromJson };",
        "",
      ].join("\n"),
    );
    expect(messages).toEqual([]);
  });

  it("holds the pure files the core uses, and targeting/, to the same rule", async () => {
    const decision = await restrictedImports(
      "src/decision/types.ts",
      [
        'import type { FlagValueType } from "../flags/lookup.js";',
        'import type { Logger } from "../platform/logging.js";',
        'import type { DecisionLog } from "./decision-log.js";',
        'import type { SourceFlag } from "./core/source.js";',
        'import type { CompiledRule } from "../targeting/index.js";',
        "export type { FlagValueType, Logger, DecisionLog, SourceFlag, CompiledRule };",
        "",
      ].join("\n"),
    );
    expect(decision).toHaveLength(3);
    const targeting = await restrictedImports(
      "src/targeting/x.ts",
      'import type { Logger } from "../platform/logging.js";\nexport type { Logger };\n',
    );
    expect(targeting).toHaveLength(1);
  });

  it("leaves the composition root free to wire every service", async () => {
    const messages = await restrictedImports(
      "src/x.ts",
      'import { FlagServiceImpl } from "./flags/service.js";\nexport { FlagServiceImpl };\n',
    );
    expect(messages).toEqual([]);
  });
});
