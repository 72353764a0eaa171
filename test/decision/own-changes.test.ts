/**
 * P7 on the writing node (quality.md): the node that commits a
 * configuration change answers Decide with it as soon as the RPC that made
 * it returns — no waiting for the bus or the version poll. Each step is
 * repeated so that a reload racing the commit would show.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { DecisionService, DecisionReason } from "../../gen/lotty/decision/v1/decision_pb.js";
import { FlagService, FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import {
  act,
  greyBlue,
  makeTeam,
  makeUser,
  str,
  uniqueKey,
  validExperiment,
} from "../support/builders.js";

const ROUNDS = 10;

describe("the writing node answers with its own change at once", () => {
  let t: TestApp;
  let decide: ReturnType<typeof client<typeof DecisionService>>;
  let flags: ReturnType<typeof client<typeof FlagService>>;

  beforeAll(async () => {
    t = await startTestApp();
    decide = client(DecisionService, t.baseUrl, (await makeUser(t, Role.SERVICE)).key);
    flags = client(FlagService, t.baseUrl, t.adminKey);
  });
  afterAll(async () => {
    await t.stop();
  });

  it("a flag created or changed a moment ago", async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const key = uniqueKey("own");
      await flags.createFlag({
        key,
        type: FlagType.STRING,
        defaultValue: str("grey"),
        description: "P7 on the writing node",
        tags: [],
      });
      const created = await decide.decide({ subjectId: `s${i}`, flagKeys: [key] });
      expect(created.decisions[0]).toMatchObject({ reason: DecisionReason.DEFAULT });
      expect(created.decisions[0]!.value?.kind).toEqual({ case: "stringValue", value: "grey" });
      await flags.updateFlag({
        key,
        defaultValue: str(`white-${i}`),
        description: "P7 on the writing node",
        tags: [],
      });
      const updated = await decide.decide({ subjectId: `s${i}`, flagKeys: [key] });
      expect(updated.decisions[0]!.value?.kind).toEqual({
        case: "stringValue",
        value: `white-${i}`,
      });
    }
  });

  it("an experiment started or paused a moment ago", async () => {
    const team = await makeTeam(t);
    for (let i = 0; i < 3; i++) {
      const key = uniqueKey("own");
      await flags.createFlag({
        key,
        type: FlagType.STRING,
        defaultValue: str("grey"),
        description: "P7 on the writing node",
        tags: [],
      });
      const { experiment } = await team.owner.experiments.createExperiment({
        experiment: validExperiment(key, greyBlue({ targetingRule: "" })),
      });
      await act(team.owner, "submit", experiment!.id);
      await act(team.approver, "approve", experiment!.id);
      await act(team.owner, "start", experiment!.id);
      const running = await decide.decide({ subjectId: "someone", flagKeys: [key] });
      expect(running.decisions[0]).toMatchObject({
        reason: DecisionReason.EXPERIMENT,
        experimentId: experiment!.id,
      });
      await act(team.owner, "pause", experiment!.id);
      const paused = await decide.decide({ subjectId: "someone", flagKeys: [key] });
      expect(paused.decisions[0]!.reason).not.toBe(DecisionReason.EXPERIMENT);
    }
  });
});
