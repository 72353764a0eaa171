/**
 * lotty.learnings.v1.LearningService: the learnings library
 * (docs/learnings.md). Learnings are recorded by recorder.ts when an
 * experiment completes; this edits, reads, searches and relates them.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  LearningMatchSchema,
  type FindSimilarRequest,
  type GetMetaAnalysisRequest,
  type LearningService,
  type Learning,
  type SearchLearningsRequest,
  type UpsertLearningRequest,
} from "../../gen/lotty/learnings/v1/learnings_pb.js";
import { findExperiment } from "../experiments/lookup.js";
import { findFlag } from "../flags/lookup.js";
import { requirePrincipal } from "../platform/auth.js";
import { FieldViolations, invalidArgument, notFound } from "../platform/errors.js";
import { withTransaction } from "../platform/transaction.js";
import { checkUuid, CONTROL_CHARACTERS } from "../platform/validation.js";
import { compileTargetingRule, findSegmentReferences } from "../targeting/index.js";
import { lockSavedSegmentRules } from "../catalog/lookup.js";
import {
  controlFirst,
  LIMITS,
  metricSetOf,
  toLearningMessage,
  type LearningRow,
  type StoredLink,
} from "./entry.js";
import { metaAnalysis } from "./meta.js";
import { search } from "./search.js";
import { SimilarityIndex, type SimilarityProbe } from "./similar.js";
import { loadHistory, loadLearning, saveEdit, type FieldChangeRow } from "./store.js";
import { storedOutcomeReport } from "../reports/lookup.js";

function checkExperimentId(id: string, field = "experiment_id"): void {
  const v = new FieldViolations();
  checkUuid(v, field, id);
  v.throwIfAny();
}

function checkLongText(v: FieldViolations, field: string, value: string, max: number): string {
  const trimmed = value.trim();
  if ([...trimmed].length > max) v.add(field, `must be at most ${max} characters`);
  else if (CONTROL_CHARACTERS.test(trimmed)) v.add(field, "must not contain control characters");
  return trimmed;
}

function checkLabels(
  v: FieldViolations,
  field: string,
  values: readonly string[],
  max: number,
): string[] {
  if (values.length > max) v.add(field, `must have at most ${max} values`);
  const cleaned = values.map((value, i) => {
    const trimmed = value.trim();
    if (trimmed === "" || [...trimmed].length > LIMITS.listItem) {
      v.add(`${field}[${i}]`, `must be 1–${LIMITS.listItem} characters`);
    } else if (CONTROL_CHARACTERS.test(trimmed) || /[\n\r\t]/.test(trimmed)) {
      v.add(`${field}[${i}]`, "must not contain control characters");
    }
    return trimmed;
  });
  return [...new Set(cleaned)];
}

function checkLinks(v: FieldViolations, links: readonly StoredLink[]): StoredLink[] {
  if (links.length > LIMITS.links)
    v.add("learning.links", `must have at most ${LIMITS.links} links`);
  return links.map((link, i) => {
    const title = link.title.trim();
    const url = link.url.trim();
    if (title === "" || [...title].length > LIMITS.linkTitle) {
      v.add(`learning.links[${i}].title`, `must be 1–${LIMITS.linkTitle} characters`);
    } else if (CONTROL_CHARACTERS.test(title)) {
      v.add(`learning.links[${i}].title`, "must not contain control characters");
    }
    let ok = false;
    try {
      const parsed = new URL(url);
      ok = (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.host !== "";
    } catch {
      ok = false;
    }
    if (!ok || url.length > LIMITS.linkUrl) {
      v.add(
        `learning.links[${i}].url`,
        `must be an absolute http(s) URL of at most ${LIMITS.linkUrl} characters`,
      );
    }
    return { title, url };
  });
}

/** The editable fields of a request, checked; every problem names its field. */
function editableFields(learning: Learning) {
  const v = new FieldViolations();
  const fields = {
    hypothesis: checkLongText(v, "learning.hypothesis", learning.hypothesis, LIMITS.hypothesis),
    result: checkLongText(v, "learning.result", learning.result, LIMITS.result),
    action: checkLongText(v, "learning.action", learning.action, LIMITS.action),
    notes: checkLongText(v, "learning.notes", learning.notes, LIMITS.notes),
    tags: checkLabels(v, "learning.tags", learning.tags, LIMITS.tags),
    platforms: checkLabels(v, "learning.platforms", learning.platforms, LIMITS.platforms),
    countries: checkLabels(v, "learning.countries", learning.countries, LIMITS.countries),
    versions: checkLabels(v, "learning.versions", learning.versions, LIMITS.versions),
    links: checkLinks(v, learning.links),
    planned_days: learning.plannedDays,
  };
  if (
    !Number.isInteger(learning.plannedDays) ||
    learning.plannedDays < 0 ||
    learning.plannedDays > LIMITS.plannedDays
  ) {
    v.add("learning.planned_days", `must be between 0 and ${LIMITS.plannedDays}`);
  }
  v.throwIfAny();
  return fields;
}

const EDITABLE = [
  "hypothesis",
  "result",
  "action",
  "notes",
  "tags",
  "platforms",
  "countries",
  "versions",
  "links",
  "planned_days",
] as const;

function diff(before: LearningRow, after: LearningRow): FieldChangeRow[] {
  return EDITABLE.filter(
    (field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]),
  ).map((field) => ({ field, before: before[field], after: after[field] }));
}

/** What FindSimilar compares, from a stored configuration or a draft's fields. */
function probeOf(
  experimentId: string,
  flagKey: string,
  tags: readonly string[],
  planned: Parameters<typeof metricSetOf>[0] & {
    targetingRule: string;
    variants: readonly { weight: number; control: boolean }[];
  },
): SimilarityProbe {
  return {
    experimentId,
    flagKey,
    tags,
    targetingRule: planned.targetingRule,
    primaryMetricKey: planned.primaryMetricKey,
    metricSet: metricSetOf(planned),
    variantWeights: controlFirst(planned.variants).map((v) => v.weight),
  };
}

export interface LearningServiceDeps {
  pool: () => pg.Pool;
  em: () => EntityManager;
}

export class LearningServiceImpl implements ServiceImpl<typeof LearningService> {
  private readonly similarity: SimilarityIndex;

  constructor(private readonly deps: LearningServiceDeps) {
    this.similarity = new SimilarityIndex(deps.pool);
  }

  async upsertLearning(req: UpsertLearningRequest, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    if (req.learning === undefined) throw invalidArgument("learning", "is required");
    checkExperimentId(req.learning.experimentId, "learning.experiment_id");
    const fields = editableFields(req.learning);
    if (req.expectedVersion < 0) throw invalidArgument("expected_version", "must not be negative");
    const experimentId = req.learning.experimentId;
    const experiment = await findExperiment(this.deps.em(), experimentId);
    if (experiment === null) throw notFound("experiment", experimentId);
    if (experiment.status !== "completed" && experiment.status !== "archived") {
      throw new ConnectError(
        `experiment ${experimentId} is ${experiment.status}: learnings are written for completed or archived experiments`,
        Code.FailedPrecondition,
      );
    }
    if (experiment.ownerId !== principal.userId && !principal.roles.has(Role.ADMIN)) {
      throw new ConnectError(
        "only the experiment's owner or an admin may edit its learning",
        Code.PermissionDenied,
      );
    }
    const saved = await withTransaction(this.deps.pool(), async (client) => {
      const current = await loadLearning(client, experimentId, true);
      if (current === undefined) {
        throw new ConnectError(
          `experiment ${experimentId} has no learning recorded yet; it is recorded when the experiment completes`,
          Code.FailedPrecondition,
        );
      }
      if (req.expectedVersion >= 1 && req.expectedVersion !== current.version) {
        throw new ConnectError(
          `expected_version: the learning is at version ${current.version}, not ${req.expectedVersion}; reload and edit again`,
          Code.Aborted,
        );
      }
      const next: LearningRow = { ...current, ...fields };
      return saveEdit(client, next, principal.userId, diff(current, next));
    });
    return { learning: toLearningMessage(saved) };
  }

  async getLearning(req: { experimentId: string }) {
    checkExperimentId(req.experimentId);
    const row = await loadLearning(this.deps.pool(), req.experimentId);
    if (row === undefined) throw notFound("learning of experiment", req.experimentId);
    return { learning: toLearningMessage(row) };
  }

  async searchLearnings(req: SearchLearningsRequest) {
    const { hits, nextPageToken, total } = await search(this.deps.pool(), req);
    return {
      results: hits.map((hit) =>
        create(LearningMatchSchema, {
          learning: toLearningMessage(hit.row),
          score: hit.score,
          snippet: hit.snippet,
        }),
      ),
      nextPageToken,
      totalSize: total,
    };
  }

  async findSimilar(req: FindSimilarRequest) {
    if (req.limit < 0 || req.limit > 50)
      throw invalidArgument("limit", "must be between 1 and 50 (0 means 10)");
    const limit = req.limit === 0 ? 10 : req.limit;
    const probe = await this.probe(req);
    const matches = await this.similarity.findSimilar(probe, limit);
    return {
      similar: matches.map((m) =>
        create(LearningMatchSchema, {
          learning: toLearningMessage(m.row),
          score: m.score,
          reasons: m.reasons.map((r) => r.reason),
          reasonDetails: m.reasons,
        }),
      ),
    };
  }

  /** What FindSimilar compares: the stored experiment, or the draft's fields. */
  private async probe(req: FindSimilarRequest): Promise<SimilarityProbe> {
    const em = this.deps.em();
    if (req.draft !== undefined) {
      if (req.experimentId !== "") {
        throw invalidArgument("experiment_id", "must be empty when draft is set");
      }
      const d = req.draft;
      const v = new FieldViolations();
      const tags = checkLabels(v, "draft_tags", req.draftTags, LIMITS.tags);
      // Saved segments are inlined as a save would (docs/saved-segments.md),
      // so the draft compares by the attributes its audience really reads.
      const references = findSegmentReferences(d.targetingRule);
      const segmentRules =
        references.ok && references.references.length > 0
          ? await lockSavedSegmentRules(
              em,
              references.references.map((r) => r.key),
            )
          : new Map<string, { rule: string; version: number }>();
      const rule = compileTargetingRule(d.targetingRule, (key) => segmentRules.get(key));
      if (!rule.ok) v.add("draft.targeting_rule", rule.message);
      if (d.flagKey.length > 100) v.add("draft.flag_key", "must be at most 100 characters");
      v.throwIfAny();
      let flagTags: string[] = [];
      if (tags.length === 0 && d.flagKey !== "") {
        flagTags = await findFlag(em, d.flagKey, "draft.flag_key").then(
          (flag) => flag.tags,
          () => [],
        );
      }
      return probeOf("", d.flagKey, tags.length > 0 ? tags : flagTags, {
        ...d,
        targetingRule: rule.ok ? rule.compiled : d.targetingRule,
      });
    }
    checkExperimentId(req.experimentId);
    const experiment = await findExperiment(em, req.experimentId);
    if (experiment === null) throw notFound("experiment", req.experimentId);
    const flag = await findFlag(em, experiment.flag.key, "experiment_id");
    return probeOf(experiment.id, experiment.flag.key, flag.tags, experiment.config);
  }

  async listLearningHistory(req: { experimentId: string }) {
    checkExperimentId(req.experimentId);
    const pool = this.deps.pool();
    const edits = await loadHistory(pool, req.experimentId);
    if (edits.length === 0) throw notFound("learning of experiment", req.experimentId);
    return {
      edits: edits.map((e) => ({
        version: e.version,
        editorId: e.editor_id ?? "",
        editedAt: timestampFromDate(e.edited_at),
        changes: e.changes.map((c) => ({
          field: c.field,
          before: JSON.stringify(c.before),
          after: JSON.stringify(c.after),
        })),
      })),
    };
  }

  async getMetaAnalysis(req: GetMetaAnalysisRequest) {
    const pool = this.deps.pool();
    return metaAnalysis(pool, req, (id) => storedOutcomeReport(pool, id));
  }
}
