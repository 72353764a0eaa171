#!/usr/bin/env node
/**
 * Checks a decide implementation against test/vectors/decide.json
 * (README.md in this folder). Plain Node, no dependencies.
 *
 *   node test/vectors/decide-runner.mjs [--vectors <file>] -- <command> [args…]
 *
 * The command is your client's adapter. It reads JSON lines on stdin, one
 * per request: {"case", "configuration", "request"} where configuration is
 * the SnapshotSource (as WatchConfiguration's source_json carries it; the
 * same object for every request of a case, so cache it by its version) and
 * request is {subjectId, attributes?, flagKeys}. For each line it writes
 * one JSON line on stdout: the decisions, an array of {flagKey, value,
 * reason, variantKey, experimentId, decisionId} in answer order. reason is
 * the lower-case name ("experiment", "targeting_mismatch", …) or the
 * DecisionReason number; decisionId is a d1 or d2 id (its payload is
 * decoded and compared; the signature is not checked), or "" when none
 * (FLAG_NOT_FOUND, or no signing key: then pass `--no-ids`).
 *
 * Exit code 0 when every decision matches, 1 otherwise (the first
 * differences are printed), 2 on usage errors.
 */
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

/** DecisionReason numbers → names (proto enum order). */
export const REASONS = [
  "unspecified",
  "default",
  "experiment",
  "targeting_mismatch",
  "outside_audience",
  "participation_limit",
  "domain_conflict",
  "rolled_back",
  "flag_not_found",
];

export const DEFAULT_VECTORS = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "decide.json",
);

/** The five claims of a d1 or d2 decision id (d2's issuedAt left out); null for "" or none. */
export function claimsOfDecisionId(id) {
  if (typeof id !== "string" || id === "") return null;
  const parts = id.split(".");
  const payload = parts[0] === "d2" ? parts[2] : parts[1];
  try {
    const fields = JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8"));
    return Array.isArray(fields) ? fields.slice(0, 5) : "malformed";
  } catch {
    return "malformed";
  }
}

/**
 * Differences between the expected decisions of one request and what an
 * implementation answered; [] when they match. `ids: false` skips the
 * decision-id comparison (an implementation without a signing key).
 */
export function compareDecisions(expected, got, { ids = true } = {}) {
  const out = [];
  if (!Array.isArray(got)) return [`expected an array of decisions, got ${JSON.stringify(got)}`];
  if (got.length !== expected.length) {
    out.push(`expected ${expected.length} decisions, got ${got.length}`);
  }
  expected.forEach((want, i) => {
    const d = got[i] ?? {};
    const reason = typeof d.reason === "number" ? REASONS[d.reason] : d.reason;
    const actual = {
      flagKey: d.flagKey,
      value: d.value ?? null,
      reason,
      variantKey: d.variantKey ?? "",
      experimentId: d.experimentId ?? "",
    };
    const wanted = {
      flagKey: want.flagKey,
      value: want.value,
      reason: want.reason,
      variantKey: want.variantKey,
      experimentId: want.experimentId,
    };
    if (ids) {
      actual.claims = claimsOfDecisionId(d.decisionId);
      wanted.claims = want.claims;
    }
    const a = JSON.stringify(actual);
    const w = JSON.stringify(wanted);
    if (a !== w) out.push(`decision ${i}: expected ${w}, got ${a}`);
  });
  return out;
}

/** Every request of the vectors with its case, in file order. */
export function* requestsOf(doc) {
  for (const c of doc.cases) {
    for (const r of c.requests) yield { case: c, request: r };
  }
}

/**
 * Checks `decide(configuration, request) → decisions` (sync or async)
 * against the vectors; returns the failures as strings.
 */
export async function checkDecideVectors(doc, decide, options = {}) {
  const failures = [];
  for (const { case: c, request } of requestsOf(doc)) {
    const { expected, ...input } = request;
    const got = await decide(c.configuration, input);
    for (const problem of compareDecisions(expected, got, options)) {
      failures.push(`${c.name} / ${input.subjectId}: ${problem}`);
    }
  }
  return failures;
}

/** Runs `command` as the adapter (JSON lines in and out) over the vectors. */
export async function checkCommand(doc, command, args, options = {}) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => child.on("close", resolve));
  try {
    return await checkDecideVectors(
      doc,
      async (configuration, request) => {
        child.stdin.write(
          JSON.stringify({ case: configuration.version, configuration, request }) + "\n",
        );
        const line = await lines.next();
        if (line.done) throw new Error("the adapter closed its output");
        return JSON.parse(line.value);
      },
      options,
    );
  } finally {
    child.stdin.end();
    await exited;
  }
}

async function main(argv) {
  const dash = argv.indexOf("--");
  const flags = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  const fileAt = flags.indexOf("--vectors");
  const file = fileAt >= 0 ? flags[fileAt + 1] : DEFAULT_VECTORS;
  if (command.length === 0 || file === undefined) {
    console.error(
      "usage: node test/vectors/decide-runner.mjs [--vectors <file>] [--no-ids] -- <command> [args…]",
    );
    return 2;
  }
  const doc = JSON.parse(readFileSync(file, "utf8"));
  const failures = await checkCommand(doc, command[0], command.slice(1), {
    ids: !flags.includes("--no-ids"),
  });
  const total = [...requestsOf(doc)].length;
  if (failures.length > 0) {
    console.error(`${failures.length} differences over ${total} requests; the first ones:`);
    for (const failure of failures.slice(0, 20)) console.error(`  ${failure}`);
    return 1;
  }
  process.stdout.write(`all ${total} requests of ${doc.cases.length} cases match\n`);
  return 0;
}

if (
  process.argv[1] !== undefined &&
  fileURLToPath(import.meta.url) === path.resolve(process.argv[1])
) {
  process.exitCode = await main(process.argv.slice(2));
}
