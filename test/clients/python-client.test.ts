/**
 * The Python client (clients/python) end to end against a real Lotty: the
 * package is installed into a fresh venv as its README says, and its
 * unittest suite (clients/python/tests) runs with this app's address and
 * keys — the vectors with no server, then remote and local decide, the
 * event sender's exposures and conversions counted by the report, safe
 * retries and deadlines, and the README's ten-line example. Every Python test must run: a skip fails this test.
 * The report is then read again from here.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { ReportService } from "../../gen/lotty/reports/v1/reports_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import {
  greyBlue,
  makeTeam,
  makeTypedFlag,
  makeUser,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";
import { client } from "../support/clients.js";
import { installPythonClient, PYTHON_CLIENT_DIR, type PythonEnv } from "../support/python.js";
import { createLocalDecider } from "../../clients/node/src/index.js";

let t: TestApp;
let py: PythonEnv;
let reportExperimentId: string;
let env: Record<string, string>;

beforeAll(async () => {
  py = installPythonClient();
  t = await startTestApp();
  const service = await makeUser(t, Role.SERVICE);
  const team = await makeTeam(t);
  const flags: Record<string, string> = {};
  const ids: Record<string, string> = {};
  for (const [name, rule] of [
    ["plain", ""],
    ["targeted", 'country == "DE"'],
    ["report", ""],
  ] as const) {
    flags[name] = await makeTypedFlag(t, FlagType.STRING, "grey");
    ids[name] = (await runExperiment(t, team, flags[name], greyBlue({ targetingRule: rule }))).id;
    await untilInSnapshot(t, flags[name], ids[name]);
  }
  reportExperimentId = ids.report!;
  const dir = mkdtempSync(path.join(tmpdir(), "lotty-python-e2e-"));
  env = {
    LOTTY_E2E_TARGET: new URL(t.baseUrl).host,
    LOTTY_E2E_SERVICE_KEY: service.key,
    LOTTY_E2E_ADMIN_KEY: t.adminKey,
    LOTTY_E2E_FLAG: flags.plain!,
    LOTTY_E2E_TARGETED_FLAG: flags.targeted!,
    LOTTY_E2E_REPORT_FLAG: flags.report!,
    LOTTY_E2E_REPORT_EXPERIMENT_ID: reportExperimentId,
    LOTTY_E2E_OUT: path.join(dir, "out.json"),
    LOTTY_E2E_BOOTSTRAP: path.join(dir, "configuration.json"),
  };
});

afterAll(async () => {
  await t?.stop();
  py?.remove();
});

function run(command: string, args: string[], extraEnv: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("the Python client against a real Lotty", () => {
  it("passes its whole unittest suite, nothing skipped", async () => {
    const { code, output } = await run(
      py.python,
      [
        "-m",
        "unittest",
        "discover",
        "-v",
        "-s",
        path.join(PYTHON_CLIENT_DIR, "tests"),
        "-t",
        PYTHON_CLIENT_DIR,
      ],
      env,
    );
    expect({ code, output }).toEqual({ code: 0, output: expect.stringMatching(/\nOK\n?$/) });
    expect(output).not.toMatch(/skipped/);
    expect(output).toMatch(/test_exposures_and_conversions_reach_the_report .* ok/);
    expect(output).toMatch(/test_remote_and_local_decisions_agree .* ok/);
    expect(output).toMatch(/test_decide_json .* ok/);
    expect(output).toMatch(/test_the_readme_example_runs .* ok/);
  }, 120_000);

  it("the report read from here shows what the Python sender sent", async () => {
    const sent = JSON.parse(readFileSync(env.LOTTY_E2E_OUT!, "utf8")) as {
      exposures: number;
      conversions: number;
      byVariant: Record<string, number>;
    };
    expect(sent.exposures).toBeGreaterThan(0);
    const reports = client(ReportService, t.baseUrl, t.adminKey);
    const { report } = await reports.getExperimentReport({ experimentId: reportExperimentId });
    expect(report!.exposures).toBe(sent.exposures);
    for (const [variantKey, subjects] of Object.entries(sent.byVariant)) {
      expect(report!.variants.find((v) => v.variantKey === variantKey)?.subjects).toBe(subjects);
    }
    const conversions = report!.variants
      .flatMap((v) => v.metrics)
      .filter((m) => m.metricKey === "conversions")
      .reduce((n, m) => n + m.value, 0);
    expect(conversions).toBe(sent.conversions);
  });

  it("the Node client's local decider answers from the bootstrap file the Python client saved", async () => {
    const node = createLocalDecider({
      baseUrl: "http://127.0.0.1:1",
      bootstrapFile: env.LOTTY_E2E_BOOTSTRAP!,
      logger: { warn: () => {}, error: () => {} },
    });
    try {
      await node.ready();
      expect(node.status().source).toBe("bootstrap");
      const flagKeys = [env.LOTTY_E2E_FLAG!, env.LOTTY_E2E_TARGETED_FLAG!];
      for (let i = 0; i < 50; i++) {
        const request = { subjectId: `interop-${i}`, attributes: { country: "DE" }, flagKeys };
        const local = node.decide(request).map((d) => [d.value, d.reason, d.variantKey]);
        const remote = t.app.decide(request).map((d) => [d.value, d.reason, d.variantKey]);
        expect(local).toEqual(remote);
      }
    } finally {
      await node.close();
    }
  });
});
