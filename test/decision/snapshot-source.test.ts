/**
 * The SnapshotSource the server loads is everything decide needs: sent
 * through JSON and compiled elsewhere, it gives the server's decisions
 * (values, reasons, variants, experiments, decision-id payloads).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import {
  compileSnapshot,
  createDecider,
  type SnapshotSource,
} from "../../src/decision/core/index.js";
import { createDecisionSigner } from "../../src/decision/decision-id.js";
import { loadSnapshotSource } from "../../src/decision/snapshot.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { greyBlue, makeTeam, makeTypedFlag, runExperiment } from "../support/builders.js";

/** A decision id's payload (its signature depends on the secret). */
const payloadOf = (decisionId: string) => decisionId.split(".")[1] ?? "";

describe("snapshot source", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });

  afterAll(async () => {
    await t.stop();
  });

  it("round-trips through JSON and decides as the server does", async () => {
    const team = await makeTeam(t);
    const targeted = await makeTypedFlag(t, FlagType.STRING, "grey");
    const plain = await makeTypedFlag(t, FlagType.BOOL, false);
    await runExperiment(t, team, targeted, greyBlue({ targetingRule: 'country == "RU"' }));
    await t.app.snapshots.refresh();

    const source = await loadSnapshotSource(t.app.db.orm.em.fork());
    const wire = JSON.parse(JSON.stringify(source)) as SnapshotSource;
    expect(wire).toEqual(source);
    expect(wire.version).toBe(t.app.snapshots.current?.version);
    const snapshot = compileSnapshot(wire);
    const decider = createDecider(createDecisionSigner("another secret"));
    for (let i = 0; i < 300; i++) {
      const request = {
        subjectId: `source-${i}`,
        attributes: { country: i % 3 === 0 ? "DE" : "RU" },
        flagKeys: [targeted, plain, "no-such-flag"],
      };
      const local = decider.decide(snapshot, request);
      const server = t.app.decide(request);
      expect(local.map((d) => ({ ...d, decisionId: payloadOf(d.decisionId) }))).toEqual(
        server.map((d) => ({ ...d, decisionId: payloadOf(d.decisionId) })),
      );
    }
  });
});
