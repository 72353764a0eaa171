/**
 * The published decide vectors (test/vectors/decide.json, README.md): the
 * decide core and the Node client's local decider (from a bootstrap file,
 * no server) give every frozen answer, and the language-neutral runner
 * (decide-runner.mjs) passes a correct adapter and fails a wrong one.
 *
 * LOTTY_WRITE_VECTORS=1 rewrites decide.json from decide-cases.ts with
 * the current core; do that only for new cases, never to change an answer.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { assignVariant, bucketOf, variantRanges } from "../../src/decision/bucketing.js";
import { REASON_NAMES, type SnapshotSource } from "../../src/decision/core/index.js";
import { CASES } from "./decide-cases.js";
import { DEFAULT_VECTORS, checkDecideVectors } from "./decide-runner.mjs";
import { coreDecide, expectedDecisions, nodeLocalDeciders } from "./implementations.js";

interface Doc {
  cases: { name: string; configuration: SnapshotSource; requests: unknown[] }[];
}

const RUNNER = path.join("test", "vectors", "decide-runner.mjs");

if (process.env.LOTTY_WRITE_VECTORS === "1") {
  const doc = {
    description:
      "Lotty decide vectors: for each configuration (a SnapshotSource, format 1, or 2 for the cases with ramp shares, as WatchConfiguration's source_json carries it) and request, the decisions Decide gives. value is the flag value as JSON (null for FLAG_NOT_FOUND); reason is the lower-case DecisionReason name; claims are the decision id's payload [flagKey, subjectId, experimentId, variantKey, configVersion] (null: no id). See README.md. These answers must never change.",
    format: 2,
    cases: CASES.map((c) => ({
      ...c,
      requests: c.requests.map((r) => ({
        ...r,
        expected: expectedDecisions(c.configuration, r),
      })),
    })),
  };
  writeFileSync(DEFAULT_VECTORS, JSON.stringify(doc, null, 2) + "\n");
}

const doc = JSON.parse(readFileSync(DEFAULT_VECTORS, "utf8")) as Doc;

describe("decide vectors", () => {
  it("are the cases of decide-cases.ts, and cover every reason", () => {
    expect(doc.cases.map((c) => c.name)).toEqual(CASES.map((c) => c.name));
    const reasons = new Set<string>();
    for (const c of doc.cases) {
      for (const r of c.requests as { expected: { reason: string }[] }[]) {
        for (const d of r.expected) reasons.add(d.reason);
      }
    }
    expect([...reasons].sort()).toEqual(
      Object.values(REASON_NAMES)
        .filter((r) => r !== "unspecified")
        .sort(),
    );
  });

  it("the ramp case has subjects in the ramped share and subjects in the slice but outside it", () => {
    // In exp-ramp-half (50/50 at 100 %, ramp 20 %) every subject is in the
    // audience; only the first 1,000 buckets of each 5,000-bucket slice are in.
    const ramp = doc.cases.find((c) => c.name === "ramp")!;
    const stored = ramp.configuration.experiments.find((e) => e.id === "exp-ramp-half")!;
    expect(ramp.configuration.format).toBe(2);
    expect(stored.rampPercent).toBe(20);
    const full = variantRanges(stored.variants, stored.audiencePercent);
    const seen = { inside: 0, outsideRamp: 0 };
    for (const r of ramp.requests as {
      subjectId: string;
      expected: { flagKey: string; reason: string; variantKey: string }[];
    }[]) {
      const d = r.expected.find((x) => x.flagKey === "ramp-half")!;
      const bucket = bucketOf(stored.id, r.subjectId);
      const slice = full.find((x) => bucket >= x.start && bucket < x.sliceEnd)!;
      expect(assignVariant(bucket, full)).toBe(slice.key); // in the audience without the ramp
      if (bucket - slice.start < 1000) {
        expect([d.reason, d.variantKey]).toEqual(["experiment", slice.key]);
        seen.inside++;
      } else {
        expect([d.reason, d.variantKey]).toEqual(["outside_audience", ""]);
        seen.outsideRamp++;
      }
    }
    expect(seen.inside).toBeGreaterThan(0);
    expect(seen.outsideRamp).toBeGreaterThan(0);
  });

  it("the ramp-participation case rests only the subjects in the completed experiment's ramped share", () => {
    const c = doc.cases.find((x) => x.name === "ramp-participation")!;
    const done = c.configuration.recentlyCompleted[0]!;
    expect(done.rampPercent).toBe(30);
    const seen = { resting: 0, notRamped: 0 };
    for (const r of c.requests as {
      subjectId: string;
      expected: { flagKey: string; reason: string }[];
    }[]) {
      const bucket = bucketOf(done.id, r.subjectId);
      // 50/50 at 100 %: slices of 5,000 buckets, the first 1,500 of each in at 30 %.
      const inShare = bucket % 5000 < 1500;
      const reason = r.expected.find((d) => d.flagKey === "after-ramp")!.reason;
      expect(reason).toBe(inShare ? "participation_limit" : "experiment");
      seen[inShare ? "resting" : "notRamped"]++;
    }
    expect(seen.resting).toBeGreaterThan(0);
    expect(seen.notRamped).toBeGreaterThan(0);
  });

  it("the decide core gives every answer", async () => {
    expect(await checkDecideVectors(doc, coreDecide)).toEqual([]);
  });

  it("the Node client's local decider gives every answer (from a bootstrap file)", async () => {
    const node = nodeLocalDeciders();
    try {
      expect(await checkDecideVectors(doc, node.decide)).toEqual([]);
    } finally {
      await node.close();
    }
  });

  it("the runner passes an adapter that answers right and fails one that does not", () => {
    // An adapter answering from the file itself checks the runner's protocol.
    const echo = (wrong: boolean) => `
      const fs = require("node:fs");
      const doc = JSON.parse(fs.readFileSync(${JSON.stringify(DEFAULT_VECTORS)}, "utf8"));
      const answers = doc.cases.flatMap((c) => c.requests.map((r) => r.expected));
      let i = 0;
      require("node:readline").createInterface({ input: process.stdin }).on("line", () => {
        const expected = answers[i++];
        const out = expected.map((d) => ({
          ...d,
          reason: ${wrong} && i === 7 ? "default" : d.reason,
          decisionId: d.claims === null ? "" :
            "d1." + Buffer.from(JSON.stringify(d.claims)).toString("base64url") + ".tag",
        }));
        process.stdout.write(JSON.stringify(out) + "\\n");
      });`;
    const pass = spawnSync("node", [RUNNER, "--", "node", "-e", echo(false)], {
      encoding: "utf8",
    });
    expect(pass.stderr).toBe("");
    expect(pass.stdout).toMatch(/^all \d+ requests of 8 cases match/);
    expect(pass.status).toBe(0);
    const fail = spawnSync("node", [RUNNER, "--", "node", "-e", echo(true)], {
      encoding: "utf8",
    });
    expect(fail.status).toBe(1);
    expect(fail.stderr).toMatch(/differences over/);
  });
});
