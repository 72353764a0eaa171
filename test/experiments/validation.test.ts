/**
 * One test per validation rule of an experiment (docs/experiments.md
 * "Fields", product.md §3), each checking the code and the exact field the
 * message names, and that nothing was stored; then the rules of
 * CompleteExperiment and of comments.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { CatalogService, MetricKind } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { FlagService } from "../../gen/lotty/flags/v1/flags_pb.js";
import {
  Direction,
  ExperimentStatus,
  GuardrailAction,
  Outcome,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf, snapshot } from "./support.js";
import {
  experimentIn,
  makeFlag,
  makeUser,
  num,
  str,
  validExperiment,
  type Actor,
  type ExperimentInit,
  type Team,
} from "../support/builders.js";

const GUARDRAIL = {
  metricKey: "error_rate",
  threshold: 0.05,
  direction: Direction.INCREASE_IS_BAD,
  windowSeconds: 600,
  minSampleSize: 100,
  action: GuardrailAction.PAUSE,
};

const variants = (...spec: [key: string, weight: number, control: boolean][]) =>
  spec.map(([key, weight, control]) => ({ key, value: str(key), weight, control }));

describe("experiment validation", () => {
  let t: TestApp;
  let team: Team;
  let owner: Actor;
  let flagKey: string;

  beforeAll(async () => {
    t = await startTestApp();
    owner = await makeUser(t, Role.EXPERIMENTER);
    team = { owner, approver: await makeUser(t, Role.APPROVER) };
    flagKey = await makeFlag(t);
  });
  afterAll(async () => {
    await t.stop();
  });

  /** Creating `overrides` on the shared flag fails; nothing is stored. */
  async function refused(overrides: ExperimentInit, flag = flagKey): Promise<ConnectError> {
    const error = await errorOf(
      owner.experiments.createExperiment({ experiment: validExperiment(flag, overrides) }),
    );
    const { experiments } = await owner.experiments.listExperiments({ flagKey: flag });
    expect(experiments).toEqual([]);
    return error;
  }

  /** INVALID_ARGUMENT whose message is exactly `message` (field: problem). */
  async function expectInvalid(overrides: ExperimentInit, message: string) {
    const error = await refused(overrides);
    expect([Code[error.code], error.rawMessage]).toEqual(["InvalidArgument", message]);
  }

  it("the baseline is valid", async () => {
    const other = await makeFlag(t);
    const { experiment } = await owner.experiments.createExperiment({
      experiment: validExperiment(other, { guardrails: [GUARDRAIL] }),
    });
    expect(experiment?.status).toBe(ExperimentStatus.DRAFT);
  });

  describe("CreateExperiment", () => {
    it("missing experiment", async () => {
      const error = await errorOf(owner.experiments.createExperiment({}));
      expect([Code[error.code], error.rawMessage]).toEqual([
        "InvalidArgument",
        "experiment: is required",
      ]);
    });

    it("empty name", async () => {
      await expectInvalid({ name: "  " }, "experiment.name: is required");
    });

    it("name too long", async () => {
      await expectInvalid(
        { name: "n".repeat(201) },
        "experiment.name: must be at most 200 characters",
      );
    });

    it("a name of exactly 200 characters is fine", async () => {
      const other = await makeFlag(t);
      const { experiment } = await owner.experiments.createExperiment({
        experiment: validExperiment(other, { name: "n".repeat(200) }),
      });
      expect(experiment?.name).toHaveLength(200);
    });

    it("an empty or malformed flag key is INVALID_ARGUMENT naming experiment.flag_key", async () => {
      const empty = await errorOf(
        owner.experiments.createExperiment({ experiment: validExperiment("", { name: "" }) }),
      );
      expect([Code[empty.code], empty.rawMessage]).toEqual([
        "InvalidArgument",
        "experiment.name: is required; experiment.flag_key: is required",
      ]);
      const malformed = await errorOf(
        owner.experiments.createExperiment({ experiment: validExperiment("Bad Key") }),
      );
      expect(Code[malformed.code]).toBe("InvalidArgument");
      expect(malformed.rawMessage).toMatch(
        /^experiment\.flag_key: must start with a lower-case letter/,
      );
    });

    it("flag missing → NOT_FOUND naming experiment.flag_key", async () => {
      const missing = `missing_${randomBytes(4).toString("hex")}`;
      const error = await refused({}, missing);
      expect([Code[error.code], error.rawMessage]).toEqual([
        "NotFound",
        `experiment.flag_key: flag "${missing}" not found`,
      ]);
    });

    it("archived flag → FAILED_PRECONDITION naming experiment.flag_key", async () => {
      const archived = await makeFlag(t);
      await client(FlagService, t.baseUrl, t.adminKey).archiveFlag({ key: archived });
      const error = await refused({}, archived);
      expect(Code[error.code]).toBe("FailedPrecondition");
      expect(error.rawMessage).toBe(
        `experiment.flag_key: flag "${archived}" is archived; archived flags cannot get new experiments`,
      );
    });

    it.each([
      [0, "must be greater than 0 and at most 100"],
      [101, "must be greater than 0 and at most 100"],
      [33.333, "must have at most two decimals (0.01 % resolution)"],
    ])("audience %p", async (audiencePercent, problem) => {
      const error = await refused({ audiencePercent });
      expect(Code[error.code]).toBe("InvalidArgument");
      // The weights (100 %) no longer match either; the audience comes first.
      expect(error.rawMessage.split("; ")[0]).toBe(`experiment.audience_percent: ${problem}`);
    });

    it("fewer than 2 variants", async () => {
      await expectInvalid(
        { variants: variants(["control", 100, true]) },
        "experiment.variants: must have between 2 and 20 variants",
      );
    });

    it("duplicate variant keys", async () => {
      await expectInvalid(
        { variants: variants(["control", 50, true], ["control", 50, false]) },
        'experiment.variants[1].key: duplicate variant key "control"',
      );
    });

    it("bad variant key", async () => {
      await expectInvalid(
        { variants: variants(["control", 50, true], ["blue button", 50, false]) },
        "experiment.variants[1].key: must be 1–50 letters, digits, '_' or '-', starting with a letter or digit",
      );
    });

    it("zero controls", async () => {
      await expectInvalid(
        { variants: variants(["a", 50, false], ["b", 50, false]) },
        "experiment.variants: exactly one variant must be the control (found 0)",
      );
    });

    it("two controls", async () => {
      await expectInvalid(
        { variants: variants(["a", 50, true], ["b", 50, true]) },
        "experiment.variants: exactly one variant must be the control (found 2)",
      );
    });

    it("weights not adding up to the audience", async () => {
      await expectInvalid(
        { variants: variants(["control", 50, true], ["blue", 40, false]) },
        "experiment.variants: weights add up to 90.00 % but must equal audience_percent 100.00 %",
      );
    });

    it("a weight finer than 0.01", async () => {
      const error = await refused({
        audiencePercent: 40.005,
        variants: variants(["control", 20.005, true], ["blue", 20, false]),
      });
      expect(Code[error.code]).toBe("InvalidArgument");
      expect(error.rawMessage).toContain(
        "experiment.variants[0].weight: must have at most two decimals (0.01 % resolution)",
      );
    });

    it("weights with 0.01 resolution adding up exactly are fine", async () => {
      const other = await makeFlag(t);
      const { experiment } = await owner.experiments.createExperiment({
        experiment: validExperiment(other, {
          audiencePercent: 33.33,
          variants: variants(["control", 11.11, true], ["b", 11.11, false], ["c", 11.11, false]),
        }),
      });
      expect(experiment?.variants.map((v) => v.weight)).toEqual([11.11, 11.11, 11.11]);
    });

    it("value type mismatch (a number for a string flag)", async () => {
      await expectInvalid(
        {
          variants: [
            { key: "control", value: str("grey"), weight: 50, control: true },
            { key: "blue", value: num(3), weight: 50, control: false },
          ],
        },
        "experiment.variants[1].value: must be a string for a FLAG_TYPE_STRING flag, got a number",
      );
    });

    it("targeting rule that does not parse names the position", async () => {
      await expectInvalid(
        { targetingRule: 'country IN ["RU"' },
        `experiment.targeting_rule: at 16: expected ',' or ']' after string "RU", found end of rule`,
      );
    });

    it("missing primary metric", async () => {
      await expectInvalid({ primaryMetricKey: "" }, "experiment.primary_metric_key: is required");
    });

    it("unknown metric", async () => {
      await expectInvalid(
        { metricKeys: ["conversions", "no_such_metric"] },
        'experiment.metric_keys[1]: metric "no_such_metric" does not exist or is archived',
      );
      await expectInvalid(
        { primaryMetricKey: "no_such_metric" },
        'experiment.primary_metric_key: metric "no_such_metric" does not exist or is archived',
      );
    });

    it("archived metric", async () => {
      const catalog = client(CatalogService, t.baseUrl, t.adminKey);
      const key = `old_${randomBytes(4).toString("hex")}`;
      await catalog.createMetric({
        metric: { key, name: "Old", kind: MetricKind.COUNT, eventTypeKey: "conversion" },
      });
      await catalog.archiveMetric({ key });
      await expectInvalid(
        { primaryMetricKey: key },
        `experiment.primary_metric_key: metric "${key}" does not exist or is archived`,
      );
    });

    it("duplicate metric keys", async () => {
      await expectInvalid(
        { metricKeys: ["conversions", "conversions"] },
        "experiment.metric_keys: must not repeat a metric",
      );
    });

    it("guardrail without a metric", async () => {
      await expectInvalid(
        { guardrails: [{ ...GUARDRAIL, metricKey: "" }] },
        "experiment.guardrails[0].metric_key: is required",
      );
    });

    it("guardrail on an unknown metric", async () => {
      await expectInvalid(
        { guardrails: [GUARDRAIL, { ...GUARDRAIL, metricKey: "nope" }] },
        'experiment.guardrails[1].metric_key: metric "nope" does not exist or is archived',
      );
    });

    it("guardrail with unspecified direction", async () => {
      await expectInvalid(
        { guardrails: [{ ...GUARDRAIL, direction: Direction.UNSPECIFIED }] },
        "experiment.guardrails[0].direction: must be DIRECTION_INCREASE_IS_BAD or DIRECTION_DECREASE_IS_BAD",
      );
    });

    it("guardrail with unspecified action", async () => {
      await expectInvalid(
        { guardrails: [{ ...GUARDRAIL, action: GuardrailAction.UNSPECIFIED }] },
        "experiment.guardrails[0].action: must be GUARDRAIL_ACTION_PAUSE or GUARDRAIL_ACTION_ROLLBACK",
      );
    });

    it("guardrail window of 30 s", async () => {
      await expectInvalid(
        { guardrails: [{ ...GUARDRAIL, windowSeconds: 30 }] },
        "experiment.guardrails[0].window_seconds: must be between 60 and 604800 (0 means 600)",
      );
    });

    it("guardrail with a negative minimum sample", async () => {
      await expectInvalid(
        { guardrails: [{ ...GUARDRAIL, minSampleSize: -1 }] },
        "experiment.guardrails[0].min_sample_size: must not be negative",
      );
    });

    it("bad conflict domain", async () => {
      await expectInvalid(
        { conflictDomains: ["checkout", "Check Out"] },
        "experiment.conflict_domains[1]: must be 1–50 lower-case letters, digits, '_', '.' or '-'",
      );
    });

    it.each([1_000_001, -1_000_001])("priority %p out of range", async (priority) => {
      await expectInvalid(
        { priority },
        "experiment.priority: must be a whole number between -1000000 and 1000000",
      );
    });

    it("reports every problem of a request in one message", async () => {
      const error = await refused({
        name: "",
        variants: variants(["a", 50, false], ["b", 50, false]),
      });
      expect(error.rawMessage).toBe(
        [
          "experiment.name: is required",
          "experiment.variants: exactly one variant must be the control (found 0)",
        ].join("; "),
      );
      const second = await refused({
        audiencePercent: 50,
        variants: variants(["a", 30, false], ["b", 30, false]),
        priority: 2_000_000,
      });
      expect(second.rawMessage).toBe(
        [
          "experiment.variants: exactly one variant must be the control (found 0)",
          "experiment.variants: weights add up to 60.00 % but must equal audience_percent 50.00 %",
          "experiment.priority: must be a whole number between -1000000 and 1000000",
        ].join("; "),
      );
    });

    it("UpdateExperiment applies the same rules and keeps the draft", async () => {
      const draft = await experimentIn(t, team, "draft");
      const before = await snapshot(owner, draft.id);
      const error = await errorOf(
        owner.experiments.updateExperiment({
          experiment: {
            ...validExperiment(draft.flagKey, {
              variants: variants(["control", 50, true], ["blue", 40, false]),
            }),
            id: draft.id,
          },
          expectedVersion: 1,
        }),
      );
      expect([Code[error.code], error.rawMessage]).toEqual([
        "InvalidArgument",
        "experiment.variants: weights add up to 90.00 % but must equal audience_percent 100.00 %",
      ]);
      expect(await snapshot(owner, draft.id)).toEqual(before);
    });
  });

  describe("CompleteExperiment", () => {
    let running: Promise<string> | undefined;
    const runningId = () => (running ??= experimentIn(t, team, "running").then((e) => e.id));

    async function completeRefused(
      req: { outcome: Outcome; winnerVariantKey: string; justification: string },
      message: string,
    ) {
      const id = await runningId();
      const before = await snapshot(owner, id);
      const error = await errorOf(owner.experiments.completeExperiment({ id, ...req }));
      expect([Code[error.code], error.rawMessage]).toEqual(["InvalidArgument", message]);
      expect(await snapshot(owner, id)).toEqual(before);
      expect(before.experiment.status).toBe(ExperimentStatus.RUNNING);
    }

    it("without justification", async () => {
      await completeRefused(
        { outcome: Outcome.NO_EFFECT, winnerVariantKey: "", justification: "   " },
        "justification: is required: say why this outcome",
      );
    });

    it("without an outcome", async () => {
      await completeRefused(
        { outcome: Outcome.UNSPECIFIED, winnerVariantKey: "", justification: "why" },
        "outcome: must be OUTCOME_ROLLOUT, OUTCOME_ROLLBACK or OUTCOME_NO_EFFECT",
      );
    });

    it("rollout without a winner", async () => {
      await completeRefused(
        { outcome: Outcome.ROLLOUT, winnerVariantKey: "", justification: "blue won" },
        "winner_variant_key: is required for OUTCOME_ROLLOUT",
      );
    });

    it("rollout with an unknown winner", async () => {
      await completeRefused(
        { outcome: Outcome.ROLLOUT, winnerVariantKey: "green", justification: "green won" },
        'winner_variant_key: the experiment has no variant "green"',
      );
    });

    it("rollback with a winner", async () => {
      await completeRefused(
        { outcome: Outcome.ROLLBACK, winnerVariantKey: "blue", justification: "it hurt" },
        "winner_variant_key: is only set for OUTCOME_ROLLOUT",
      );
    });

    it("a valid rollback completes", async () => {
      const id = await runningId();
      const { experiment } = await owner.experiments.completeExperiment({
        id,
        outcome: Outcome.ROLLBACK,
        winnerVariantKey: "",
        justification: "  errors went up  ",
      });
      expect(experiment?.status).toBe(ExperimentStatus.COMPLETED);
      expect(experiment?.outcome).toBe(Outcome.ROLLBACK);
      expect(experiment?.winnerVariantKey).toBe("");
      expect(experiment?.justification).toBe("errors went up");
    });
  });

  describe("comments", () => {
    it("a comment with a NUL character is INVALID_ARGUMENT naming comment", async () => {
      const draft = await experimentIn(t, team, "draft");
      const before = await snapshot(owner, draft.id);
      const error = await errorOf(
        owner.experiments.submitExperiment({ id: draft.id, comment: "ready\u0000now" }),
      );
      expect([Code[error.code], error.rawMessage]).toEqual([
        "InvalidArgument",
        "comment: must not contain control characters",
      ]);
      expect(await snapshot(owner, draft.id)).toEqual(before);
    });

    it("an id that is not a UUID is INVALID_ARGUMENT naming id", async () => {
      const error = await errorOf(owner.experiments.getExperiment({ id: "nope" }));
      expect([Code[error.code], error.rawMessage]).toEqual([
        "InvalidArgument",
        "id: must be a UUID",
      ]);
    });
  });
});
