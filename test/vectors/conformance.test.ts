/**
 * Conformance of every decide implementation: the server's decide core, the
 * Node client's local decider and the Python client (clients/python,
 * installed into a fresh venv from Debian's python3 as its README says)
 * give the same answers — ids included — for
 *
 * - decide.json, the hand-written vectors (207 requests), through the
 *   language-neutral runner and the Python adapter, as a client author runs it;
 * - decide-generated.json, batches of vectors the property-based generator
 *   wrote (frozen: their answers never change either; batches are added);
 * - fresh random configurations and requests from the generator (a new seed
 *   each run, printed on failure; LOTTY_VECTOR_SEED=<n> replays one), whose
 *   expected answers come from the decide core.
 *
 * No skipping: without Debian's python3-grpcio and python3-protobuf this
 * fails (.ci/run installs them).
 *
 * LOTTY_WRITE_VECTORS=1 LOTTY_VECTOR_SEED=<n> adds a batch of
 * GENERATED_BATCH cases from seed n to decide-generated.json (then run
 * prettier on it); existing cases are kept as they are.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { installPythonClient, PYTHON_ADAPTER, type PythonEnv } from "../support/python.js";
import { DEFAULT_VECTORS, checkCommand, checkDecideVectors } from "./decide-runner.mjs";
import { generateVectors, withBatch, type GeneratedVectors } from "./generator.js";
import { coreDecide, nodeLocalDeciders } from "./implementations.js";

const RUNNER = path.join("test", "vectors", "decide-runner.mjs");
const GENERATED = path.join("test", "vectors", "decide-generated.json");
/** Cases per batch added to decide-generated.json; the first batch's seed. */
const GENERATED_BATCH = 30;
const FIRST_SEED = 20_261_207;
/** Fresh cases per run: enough to meet every reason, few enough to stay under a few seconds. */
const RANDOM_CASES = 150;

const readGenerated = () => JSON.parse(readFileSync(GENERATED, "utf8")) as GeneratedVectors;

if (process.env.LOTTY_WRITE_VECTORS === "1") {
  const seed = Number(process.env.LOTTY_VECTOR_SEED ?? FIRST_SEED);
  const doc = withBatch(existsSync(GENERATED) ? readGenerated() : undefined, seed, GENERATED_BATCH);
  writeFileSync(GENERATED, JSON.stringify(doc, null, 2) + "\n");
}

const handWritten = JSON.parse(readFileSync(DEFAULT_VECTORS, "utf8")) as unknown;
const generated = readGenerated();

let py: PythonEnv;

beforeAll(() => {
  py = installPythonClient();
});

afterAll(() => {
  py?.remove();
});

function reasonsOf(doc: GeneratedVectors): Set<string> {
  return new Set(
    doc.cases.flatMap((c) => c.requests.flatMap((r) => r.expected.map((d) => d.reason))),
  );
}

describe("the Python client", () => {
  it("passes decide.json through the runner's command line, ids included", () => {
    const run = spawnSync("node", [RUNNER, "--", py.python, PYTHON_ADAPTER], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("all 207 requests of 8 cases match\n");
    expect(run.status).toBe(0);
  });

  it("fails the runner when its answers are wrong", async () => {
    // The hand-written vectors with one expected value changed: a correct client must fail.
    const doc = JSON.parse(JSON.stringify(handWritten)) as {
      cases: { requests: { expected: { value: unknown }[] }[] }[];
    };
    doc.cases[1]!.requests[0]!.expected[0]!.value = "not what decide answers";
    const failures = await checkCommand(doc, py.python, [PYTHON_ADAPTER]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/decision 0: expected/);
  });
});

describe("decide-generated.json (frozen generated vectors)", () => {
  it("holds whole batches of generated cases, and meets every reason", () => {
    expect(generated.seeds[0]).toBe(FIRST_SEED);
    expect(generated.cases).toHaveLength(generated.seeds.length * GENERATED_BATCH);
    expect(new Set(generated.cases.map((c) => c.name)).size).toBe(generated.cases.length);
    expect([...reasonsOf(generated)].sort()).toEqual(
      [
        "default",
        "domain_conflict",
        "experiment",
        "flag_not_found",
        "outside_audience",
        "participation_limit",
        "rolled_back",
        "targeting_mismatch",
      ].sort(),
    );
  });

  it("the decide core, the Node local decider and the Python client give every answer", async () => {
    expect(await checkDecideVectors(generated, coreDecide)).toEqual([]);
    const node = nodeLocalDeciders();
    try {
      expect(await checkDecideVectors(generated, node.decide)).toEqual([]);
    } finally {
      await node.close();
    }
    expect(await checkCommand(generated, py.python, [PYTHON_ADAPTER])).toEqual([]);
  });
});

describe("random configurations (property-based)", () => {
  it("the Node local decider and the Python client answer as the decide core", async () => {
    const seed = Number(process.env.LOTTY_VECTOR_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const doc = generateVectors(seed, RANDOM_CASES);
    const requests = doc.cases.reduce((n, c) => n + c.requests.length, 0);
    expect(requests).toBeGreaterThan(RANDOM_CASES);
    const node = nodeLocalDeciders();
    let nodeFailures: string[];
    try {
      nodeFailures = await checkDecideVectors(doc, node.decide);
    } finally {
      await node.close();
    }
    const pythonFailures = await checkCommand(doc, py.python, [PYTHON_ADAPTER]);
    const replay = `replay with LOTTY_VECTOR_SEED=${seed}`;
    expect({ replay, node: nodeFailures.slice(0, 5) }).toEqual({ replay, node: [] });
    expect({ replay, python: pythonFailures.slice(0, 5) }).toEqual({ replay, python: [] });
  });
});
