/**
 * The learnings library over the real RPCs (product.md §10, C9): a learning
 * is recorded when an experiment completes, pre-filled from it; owners and
 * admins edit it (audited, versioned); search with web-search syntax and
 * filters; "find similar" for stored experiments and drafts with explained
 * reasons; the review policy that refuses archiving until it is written
 * up; meta-analysis; the backfill of experiments completed before.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, type Client } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentSchema,
  ExperimentStatus,
  Outcome,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagService } from "../../gen/lotty/flags/v1/flags_pb.js";
import {
  LearningService,
  LinkSchema,
  type Learning,
} from "../../gen/lotty/learnings/v1/learnings_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import {
  act,
  experimentIn,
  makeTeam,
  makeUser,
  str,
  uniqueKey,
  type ExperimentInit,
  type Team,
} from "../support/builders.js";
import { errorOf } from "../experiments/support.js";
import pg from "pg";
import { backfillLearnings } from "../../src/learnings/recorder.js";

describe("learnings library", () => {
  let t: TestApp;
  let team: Team;
  let owner: Client<typeof LearningService>;
  let admin: Client<typeof LearningService>;
  let viewer: Client<typeof LearningService>;
  let otherExperimenter: Client<typeof LearningService>;
  let service: Client<typeof LearningService>;
  const done = {} as Record<"checkoutA" | "checkoutB" | "searchA" | "unrelated", Experiment>;

  async function flagWithTags(tags: string[]): Promise<string> {
    const key = uniqueKey("lf");
    await client(FlagService, t.baseUrl, t.adminKey).createFlag({
      key,
      type: 1,
      defaultValue: str("grey"),
      description: "learnings test flag",
      tags,
    });
    return key;
  }

  /** A completed experiment (rollout of "blue" unless overridden by `outcome`). */
  async function completed(
    flagKey: string,
    overrides: ExperimentInit,
    outcome: Outcome = Outcome.ROLLOUT,
  ): Promise<Experiment> {
    const running = await experimentIn(t, team, "running", { flagKey, overrides });
    const { experiment } = await team.owner.experiments.completeExperiment({
      id: running.id,
      outcome,
      winnerVariantKey: outcome === Outcome.ROLLOUT ? "blue" : "",
      justification: "decided in the test",
    });
    return experiment!;
  }

  async function write(id: string, fields: Partial<Learning>): Promise<Learning> {
    const { learning } = await owner.getLearning({ experimentId: id });
    const { learning: saved } = await owner.upsertLearning({
      learning: { ...learning!, ...fields },
    });
    return saved!;
  }

  beforeAll(async () => {
    t = await startTestApp();
    team = await makeTeam(t);
    owner = client(LearningService, t.baseUrl, team.owner.key);
    admin = client(LearningService, t.baseUrl, t.adminKey);
    viewer = client(LearningService, t.baseUrl, (await makeUser(t, Role.VIEWER)).key);
    otherExperimenter = client(
      LearningService,
      t.baseUrl,
      (await makeUser(t, Role.EXPERIMENTER)).key,
    );
    service = client(LearningService, t.baseUrl, (await makeUser(t, Role.SERVICE)).key);

    const checkout = await flagWithTags(["checkout", "payments"]);
    const search = await flagWithTags(["search"]);
    done.checkoutA = await completed(checkout, {
      name: "One-page checkout",
      description: "A single checkout page reduces abandonment",
      targetingRule: 'country IN ["DE", "FR"] AND platform == "ios"',
      guardrails: [
        {
          metricKey: "latency_p95",
          threshold: 800,
          direction: 1,
          windowSeconds: 600,
          minSampleSize: 100,
          action: 1,
        },
      ],
    });
    done.checkoutB = await completed(
      checkout,
      {
        name: "Express pay button",
        description: "Apple Pay above the fold speeds up payment",
        targetingRule: 'country IN ["DE"]',
      },
      Outcome.ROLLBACK,
    );
    done.searchA = await completed(
      search,
      {
        name: "Fuzzy search ranking",
        description: "Typo tolerance finds more products",
        targetingRule: "",
        primaryMetricKey: "conversions",
        metricKeys: [],
      },
      Outcome.NO_EFFECT,
    );
    done.unrelated = await completed(await flagWithTags(["onboarding"]), {
      name: "Welcome tour",
      description: "A guided tour helps new users",
      targetingRule: 'platform == "android"',
      primaryMetricKey: "conversions",
      metricKeys: [],
      variants: [
        { key: "control", value: str("grey"), weight: 34, control: true },
        { key: "blue", value: str("blue"), weight: 33, control: false },
        { key: "green", value: str("green"), weight: 33, control: false },
      ],
    });
    await write(done.checkoutA.id, {
      notes: 'Abandonment dropped mostly on "slow networks"; the p95 latency guardrail fired once.',
      action: "rolled out to 100 %",
      tags: ["checkout", "payments", "mobile"],
    });
    await write(done.checkoutB.id, {
      notes: "Users distrusted the express button on slow networks.",
      action: "rolled back",
    });
  }, 120_000);

  afterAll(async () => {
    await t.stop();
  });

  it("records a pre-filled learning in the transaction that completes the experiment", async () => {
    const { learning } = await viewer.getLearning({ experimentId: done.unrelated.id });
    expect(learning).toMatchObject({
      experimentId: done.unrelated.id,
      experimentName: "Welcome tour",
      hypothesis: "A guided tour helps new users",
      primaryMetricKey: "conversions",
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "blue",
      justification: "decided in the test",
      tags: ["onboarding"],
      targetingRule: 'platform == "android"',
      targetingSummary: "platform = android",
      platforms: ["android"],
      variantKeys: ["control", "blue", "green"],
      variantWeights: [34, 33, 33],
      version: 1,
      updatedBy: "",
      filled: false,
      missingFields: ["notes", "action", "reviewed"],
      reportPermalink: `/console/experiments/${done.unrelated.id}/results`,
    });
    // Nobody was exposed: the report had no comparison to take an effect from.
    expect(learning!.result).toBe("conversions: no comparison (no exposed subjects on a side).");
    expect(learning!.primaryEffect).toBeUndefined();
    expect(learning!.completedAt).toBeDefined();
    const { learning: checkout } = await viewer.getLearning({ experimentId: done.checkoutA.id });
    expect(checkout!.countries).toEqual(["DE", "FR"]);
    expect(checkout!.platforms).toEqual(["ios"]);
    expect(checkout!.guardrails.map((g) => g.metricKey)).toEqual(["latency_p95"]);
  });

  it("has no learning before completion, and refuses edits then", async () => {
    const running = await experimentIn(t, team, "running", { flagKey: await flagWithTags([]) });
    expect((await errorOf(viewer.getLearning({ experimentId: running.id }))).code).toBe(
      Code.NotFound,
    );
    const e = await errorOf(
      owner.upsertLearning({ learning: { experimentId: running.id, notes: "x" } }),
    );
    expect(e.code).toBe(Code.FailedPrecondition);
  });

  it("audits every edit: who, when and which fields, before and after", async () => {
    const { learning } = await owner.getLearning({ experimentId: done.searchA.id });
    const { learning: v2 } = await owner.upsertLearning({
      learning: { ...learning!, notes: "no measurable change", action: "kept control" },
      expectedVersion: 1,
    });
    expect(v2).toMatchObject({
      version: 2,
      updatedBy: team.owner.id,
      filled: true,
      missingFields: [],
    });
    const { learning: v3 } = await admin.upsertLearning({
      learning: { ...v2!, plannedDays: 14 },
    });
    expect(v3!.version).toBe(3);
    const { edits } = await viewer.listLearningHistory({ experimentId: done.searchA.id });
    expect(edits.map((e) => e.version)).toEqual([3, 2, 1]);
    expect(edits[0]!.changes).toEqual([
      expect.objectContaining({ field: "planned_days", before: "0", after: "14" }),
    ]);
    expect(edits[1]!.editorId).toBe(team.owner.id);
    expect(edits[1]!.changes.map((c) => c.field).sort()).toEqual(["action", "notes"]);
    expect(edits[1]!.changes.find((c) => c.field === "notes")).toMatchObject({
      before: '""',
      after: '"no measurable change"',
    });
    expect(edits[2]).toMatchObject({ editorId: "", changes: [] });
    // A stale expected_version is refused and changes nothing.
    const stale = await errorOf(
      owner.upsertLearning({ learning: { ...v3!, notes: "late" }, expectedVersion: 2 }),
    );
    expect(stale.code).toBe(Code.Aborted);
    expect((await viewer.getLearning({ experimentId: done.searchA.id })).learning!.version).toBe(3);
  });

  it("lets only the owner and admins edit; every role but services reads", async () => {
    const { learning } = await viewer.getLearning({ experimentId: done.checkoutB.id });
    const denied = await errorOf(
      otherExperimenter.upsertLearning({ learning: { ...learning!, notes: "not mine" } }),
    );
    expect(denied.code).toBe(Code.PermissionDenied);
    expect((await errorOf(viewer.upsertLearning({ learning: learning! }))).code).toBe(
      Code.PermissionDenied,
    );
    expect((await errorOf(service.searchLearnings({}))).code).toBe(Code.PermissionDenied);
    await expect(otherExperimenter.searchLearnings({})).resolves.toBeDefined();
  });

  it("names the field of every bad edit", async () => {
    const { learning } = await owner.getLearning({ experimentId: done.checkoutB.id });
    const cases: [Partial<Learning>, string][] = [
      [{ notes: "x".repeat(10_001) }, "learning.notes"],
      [{ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, "learning.tags"],
      [{ tags: [""] }, "learning.tags[0]"],
      [
        { links: [create(LinkSchema, { title: "doc", url: "javascript:alert(1)" })] },
        "learning.links[0].url",
      ],
      [{ plannedDays: -1 }, "learning.planned_days"],
    ];
    for (const [fields, field] of cases) {
      const e = await errorOf(owner.upsertLearning({ learning: { ...learning!, ...fields } }));
      expect(e.code).toBe(Code.InvalidArgument);
      expect(e.rawMessage).toContain(field);
    }
  });

  describe("search", () => {
    const ids = (r: { results: { learning?: Learning }[] }) =>
      r.results.map((x) => x.learning!.experimentId);

    it("finds words in name, hypothesis, notes and tags, ranked, with a snippet", async () => {
      const r = await viewer.searchLearnings({ query: "abandonment" });
      expect(ids(r)).toEqual([done.checkoutA.id]);
      expect(r.results[0]!.snippet).toContain("**");
      expect(r.results[0]!.score).toBeGreaterThan(0);
      expect(r.totalSize).toBe(1);
      expect(ids(await viewer.searchLearnings({ query: "mobile" }))).toEqual([done.checkoutA.id]);
    });

    it("understands quoted phrases and negation", async () => {
      const phrase = await viewer.searchLearnings({ query: '"slow networks"' });
      expect(new Set(ids(phrase))).toEqual(new Set([done.checkoutA.id, done.checkoutB.id]));
      const negated = await viewer.searchLearnings({ query: '"slow networks" -express' });
      expect(ids(negated)).toEqual([done.checkoutA.id]);
      expect((await viewer.searchLearnings({ query: "zeppelin" })).results).toEqual([]);
    });

    it("filters by flag, outcome, metric, country, platform, owner, dates, guardrail and write-up", async () => {
      const flag = done.checkoutA.flagKey;
      expect(new Set(ids(await viewer.searchLearnings({ flagKey: flag })))).toEqual(
        new Set([done.checkoutA.id, done.checkoutB.id]),
      );
      expect(
        ids(await viewer.searchLearnings({ flagKey: flag, outcome: Outcome.ROLLBACK })),
      ).toEqual([done.checkoutB.id]);
      expect(
        new Set(ids(await viewer.searchLearnings({ primaryMetricKey: "conversions" }))),
      ).toEqual(new Set([done.searchA.id, done.unrelated.id]));
      expect(ids(await viewer.searchLearnings({ countries: ["fr"] }))).toEqual([done.checkoutA.id]);
      expect(ids(await viewer.searchLearnings({ platforms: ["Android"] }))).toEqual([
        done.unrelated.id,
      ]);
      expect(ids(await viewer.searchLearnings({ tags: ["checkout", "mobile"] }))).toEqual([
        done.checkoutA.id,
      ]);
      expect((await viewer.searchLearnings({ ownerId: team.owner.id })).totalSize).toBe(4);
      expect(
        (
          await viewer.searchLearnings({
            completedBefore: timestampFromDate(new Date(Date.now() - 86_400_000)),
          })
        ).results,
      ).toEqual([]);
      const unwritten = ids(await viewer.searchLearnings({ needsWritingUp: true }));
      expect(unwritten).toContain(done.unrelated.id);
      expect(unwritten).not.toContain(done.checkoutA.id);
      expect(ids(await viewer.searchLearnings({ guardrailFired: true }))).toEqual([]);
    });

    it("pages in a stable order, newest completed first without a query", async () => {
      const first = await viewer.searchLearnings({ pageSize: 2, ownerId: team.owner.id });
      const second = await viewer.searchLearnings({
        pageSize: 2,
        ownerId: team.owner.id,
        pageToken: first.nextPageToken,
      });
      expect(first.nextPageToken).not.toBe("");
      expect(second.nextPageToken).toBe("");
      expect([...ids(first), ...ids(second)]).toEqual([
        done.unrelated.id,
        done.searchA.id,
        done.checkoutB.id,
        done.checkoutA.id,
      ]);
      const reused = await errorOf(
        viewer.searchLearnings({ pageSize: 2, pageToken: first.nextPageToken }),
      );
      expect(reused.rawMessage).toContain("page_token");
    });

    it("refuses bad filters naming the field", async () => {
      const cases: [Parameters<typeof viewer.searchLearnings>[0], string][] = [
        [{ pageSize: 501 }, "page_size"],
        [{ pageToken: "nonsense" }, "page_token"],
        [{ query: "x".repeat(501) }, "query"],
        [{ ownerId: "not-a-uuid" }, "owner_id"],
        [{ outcome: 99 as Outcome }, "outcome"],
        [{ flagKey: "" }, "flag_key"],
        [{ countries: [""] }, "countries[0]"],
        [
          {
            completedAfter: timestampFromDate(new Date("2026-02-01")),
            completedBefore: timestampFromDate(new Date("2026-01-01")),
          },
          "completed_after",
        ],
      ];
      for (const [request, field] of cases) {
        const e = await errorOf(viewer.searchLearnings(request));
        expect(e.code).toBe(Code.InvalidArgument);
        expect(e.rawMessage).toContain(field);
      }
    });
  });

  describe("find similar", () => {
    it("ranks neighbours with the reasons and weights they matched on", async () => {
      const { similar } = await viewer.findSimilar({ experimentId: done.checkoutA.id });
      expect(similar[0]!.learning!.experimentId).toBe(done.checkoutB.id);
      expect(similar[0]!.reasons).toEqual([
        "same_flag",
        "shared_tags",
        "same_primary_metric",
        "shared_metrics",
        "similar_audience",
        "same_variant_count",
        "same_variant_weights",
      ]);
      const audience = similar[0]!.reasonDetails.find((r) => r.reason === "similar_audience")!;
      expect(audience.detail).toBe("targeting: country, country=de");
      const flag = similar[0]!.reasonDetails.find((r) => r.reason === "same_flag")!;
      expect(flag.weight).toBe(30);
      expect(similar[0]!.score).toBeGreaterThan(similar[1]?.score ?? 0);
      // The experiment itself is never its own neighbour.
      expect(similar.map((s) => s.learning!.experimentId)).not.toContain(done.checkoutA.id);
      // The three-variant tour shares only a secondary metric and the
      // platform attribute (another value) with it: last.
      const tour = similar.at(-1)!;
      expect(tour.learning!.experimentId).toBe(done.unrelated.id);
      expect(tour.reasons).toEqual(["shared_metrics", "similar_audience"]);
      expect(tour.reasonDetails[1]).toMatchObject({ detail: "targeting: platform", weight: 3 });
    });

    it("compares a draft being written with the completed ones", async () => {
      const draft = create(ExperimentSchema, {
        flagKey: "",
        targetingRule: 'platform == "android"',
        primaryMetricKey: "signups",
        variants: [
          { key: "a", weight: 34, control: true },
          { key: "b", weight: 33 },
          { key: "c", weight: 33 },
        ],
      });
      const { similar } = await viewer.findSimilar({ draft, draftTags: ["onboarding"] });
      expect(similar[0]!.learning!.experimentId).toBe(done.unrelated.id);
      expect(similar[0]!.reasons).toEqual([
        "shared_tags",
        "similar_audience",
        "same_variant_count",
        "same_variant_weights",
      ]);
      const bad = await errorOf(
        viewer.findSimilar({ draft: { ...draft, targetingRule: "country IN" } }),
      );
      expect(bad.rawMessage).toContain("draft.targeting_rule");
      expect((await errorOf(viewer.findSimilar({ experimentId: "" }))).code).toBe(
        Code.InvalidArgument,
      );
    });
  });

  it("refuses to archive before the learning is written up when the policy says so", async () => {
    const access = client(AccessService, t.baseUrl, t.adminKey);
    await access.setReviewPolicy({
      experimenterId: team.owner.id,
      approverIds: [],
      minApprovals: 1,
      requireLearningToArchive: true,
    });
    try {
      const e = await completed(await flagWithTags([]), {});
      const refused = await errorOf(act(team.owner, "archive", e.id));
      expect(refused.code).toBe(Code.FailedPrecondition);
      expect(refused.rawMessage).toContain("missing: notes, action, reviewed");
      await write(e.id, { notes: "short and fine", action: "shipped blue" });
      expect((await act(team.owner, "archive", e.id)).status).toBe(ExperimentStatus.ARCHIVED);
      // Archived learnings stay editable by the owner.
      await expect(write(e.id, { notes: "after archiving" })).resolves.toMatchObject({
        version: 3,
      });
    } finally {
      await access.setReviewPolicy({
        experimenterId: team.owner.id,
        approverIds: [],
        minApprovals: 1,
      });
    }
  });

  it("sums across the selection in the meta-analysis", async () => {
    const meta = await viewer.getMetaAnalysis({
      filter: {
        ownerId: team.owner.id,
        completedBefore: timestampFromDate(new Date(Date.now() + 60_000)),
      },
      metricKey: "conversion_rate",
    });
    expect(meta.experiments).toBeGreaterThanOrEqual(4);
    expect(meta.winRate).toBeCloseTo((meta.experiments - 2) / meta.experiments, 6);
    expect(meta.rollbackShare).toBeCloseTo(1 / meta.experiments, 6);
    expect(meta.withPlan).toBe(1);
    expect(meta.medianPlannedDays).toBe(14);
    expect(meta.impact?.metricKey).toBe("conversion_rate");
    const bad = await errorOf(viewer.getMetaAnalysis({ filter: { ownerId: "x" } }));
    expect(bad.rawMessage).toContain("filter.owner_id");
  });

  it("writes learnings for experiments completed before the library (backfill at start)", async () => {
    const e = await completed(await flagWithTags(["legacy"]), { name: "Legacy test" });
    const pool = new pg.Pool({ connectionString: t.database.url, max: 2 });
    try {
      await pool.query(`delete from learnings where experiment_id = $1`, [e.id]);
      const written = await backfillLearnings(t.app.db.orm.em.fork(), pool);
      expect(written).toBe(1);
      const { learning } = await viewer.getLearning({ experimentId: e.id });
      expect(learning).toMatchObject({
        experimentName: "Legacy test",
        tags: ["legacy"],
        version: 1,
      });
      expect(await backfillLearnings(t.app.db.orm.em.fork(), pool)).toBe(0);
    } finally {
      await pool.end();
    }
  });
});
