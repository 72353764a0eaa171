/**
 * Rebuilds an experiment's report rollups from its raw events: the check
 * that the live aggregates are right, and the repair if they ever are not
 * (docs/reports.md#recomputation).
 *
 * Runs in one transaction that locks the rollup tables against writes, so
 * the event store waits (it does not fail) while an experiment is rebuilt,
 * and nothing it commits is counted twice or lost.
 */
import type pg from "pg";
import { withTransaction } from "../platform/transaction.js";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";
import { rebuildSegmentsSql } from "./segments.js";

export const ROLLUP_TABLES = [
  "event_counts",
  "report_subjects",
  "subject_event_counts",
  "subject_property_sums",
  "cohort_stats",
  "minute_property_stats",
  "hour_value_histograms",
  "subject_segments",
] as const;

export interface RebuildResult {
  experimentId: string;
  /** Rows written per rollup table. */
  rows: Record<(typeof ROLLUP_TABLES)[number], number>;
}

const COUNTED = `experiment_id = $1 and counted and variant_key is not null`;
/** UTC minute and hour of occurred_at, whatever the session's time zone. */
const MINUTE = `date_trunc('minute', occurred_at at time zone 'UTC') at time zone 'UTC'`;
const HOUR = `date_trunc('hour', e.occurred_at at time zone 'UTC') at time zone 'UTC'`;

export async function rebuildRollups(pool: pg.Pool, experimentId: string): Promise<RebuildResult> {
  return withTransaction(pool, async (client) => {
    await client.query(`lock table ${ROLLUP_TABLES.join(", ")} in exclusive mode`);
    for (const table of ROLLUP_TABLES) {
      await client.query(`delete from ${table} where experiment_id = $1`, [experimentId]);
    }
    const statements: Record<(typeof ROLLUP_TABLES)[number], string> = {
      event_counts: `insert into event_counts (experiment_id, variant_key, event_type, minute, events)
        select experiment_id, variant_key, event_type, ${MINUTE}, count(*)
        from events where ${COUNTED} group by 1, 2, 3, 4`,
      report_subjects: `insert into report_subjects (experiment_id, variant_key, subject_id, first_exposed_at, exposures, counted_cohort)
        select experiment_id, variant_key, subject_id, min(occurred_at), count(*),
               date_trunc('minute', min(occurred_at) at time zone 'UTC') at time zone 'UTC'
        from events where ${COUNTED} and event_type = '${EXPOSURE_EVENT_TYPE}' group by 1, 2, 3`,
      subject_event_counts: `insert into subject_event_counts (experiment_id, variant_key, event_type, subject_id, events, first_at, last_at)
        select experiment_id, variant_key, event_type, subject_id, count(*), min(occurred_at), max(occurred_at)
        from events where ${COUNTED} and event_type <> '${EXPOSURE_EVENT_TYPE}' group by 1, 2, 3, 4`,
      subject_property_sums: `insert into subject_property_sums (experiment_id, variant_key, event_type, property, subject_id, events, total)
        select e.experiment_id, e.variant_key, e.event_type, p.key, e.subject_id, count(*), sum((p.value #>> '{}')::numeric)
        from events e cross join lateral jsonb_each(e.properties) as p(key, value)
        where e.${COUNTED.replaceAll(" and ", " and e.")} and e.event_type <> '${EXPOSURE_EVENT_TYPE}'
          and jsonb_typeof(p.value) = 'number'
          and (e.event_type, p.key) in (select event_type_key, property from metrics where property is not null)
        group by 1, 2, 3, 4, 5`,
      // From the per-subject tables just rebuilt (they come first).
      cohort_stats: `insert into cohort_stats (experiment_id, variant_key, cohort_minute, event_type, property,
                                               subjects, total, total_squares, total_by_exposures)
        select experiment_id, variant_key, cohort, event_type, property,
               sum(positive), sum(x), sum(x * x), sum(x * e)
        from (
          select r.experiment_id, r.variant_key, r.counted_cohort as cohort, '' as event_type, '' as property,
                 1 as positive, r.exposures::numeric as x, 0::numeric as e
          from report_subjects r where r.experiment_id = $1
          union all
          select r.experiment_id, r.variant_key, r.counted_cohort, q.event_type, q.property,
                 (q.x > 0)::int, q.x, r.exposures::numeric
          from report_subjects r
          join (
            select experiment_id, variant_key, subject_id, event_type, '' as property, events::numeric as x
            from subject_event_counts where experiment_id = $1
            union all
            select experiment_id, variant_key, subject_id, event_type, property, total
            from subject_property_sums where experiment_id = $1
          ) q using (experiment_id, variant_key, subject_id)
          where r.experiment_id = $1
        ) c
        group by 1, 2, 3, 4, 5`,
      minute_property_stats: `insert into minute_property_stats (experiment_id, variant_key, event_type, property, minute, events, total, total_squares)
        select experiment_id, variant_key, event_type, key, minute, count(*), sum(v), sum(v * v)
        from (
          select e.experiment_id, e.variant_key, e.event_type, p.key, ${MINUTE.replace("occurred_at", "e.occurred_at")} as minute,
                 (p.value #>> '{}')::numeric as v
          from events e cross join lateral jsonb_each(e.properties) as p(key, value)
          where e.${COUNTED.replaceAll(" and ", " and e.")} and e.event_type <> '${EXPOSURE_EVENT_TYPE}'
            and jsonb_typeof(p.value) = 'number'
          and (e.event_type, p.key) in (select event_type_key, property from metrics where property is not null)
        ) s
        group by 1, 2, 3, 4, 5`,
      hour_value_histograms: `insert into hour_value_histograms (experiment_id, variant_key, event_type, property, hour, bucket, events)
        select e.experiment_id, e.variant_key, e.event_type, p.key, ${HOUR},
               lotty_value_bucket((p.value #>> '{}')::numeric), count(*)
        from events e cross join lateral jsonb_each(e.properties) as p(key, value)
        where e.${COUNTED.replaceAll(" and ", " and e.")} and e.event_type <> '${EXPOSURE_EVENT_TYPE}'
          and jsonb_typeof(p.value) = 'number'
          and (e.event_type, p.key) in (select event_type_key, property from metrics where property is not null)
        group by 1, 2, 3, 4, 5, 6`,
      subject_segments: rebuildSegmentsSql(COUNTED),
    };
    const rows = {} as RebuildResult["rows"];
    for (const table of ROLLUP_TABLES) {
      const result = await client.query(statements[table], [experimentId]);
      rows[table] = result.rowCount ?? 0;
    }
    return { experimentId, rows };
  });
}
