/**
 * The event store: writes batches of accepted events to PostgreSQL and
 * keeps attribution and the derived counts in the same transaction
 * (docs/events.md). Everything here is plain SQL over a small pg pool of
 * its own: a few set-based statements per batch (unnest arrays), never a
 * statement per event.
 *
 * Counting rule: an event is counted when its type does not require an
 * exposure, or when an exposure with its decision id exists. One that
 * requires an exposure and has none waits in pending_attributions until
 * its exposure arrives or its horizon (occurred_at + 7 days) passes.
 */
import pg from "pg";
import { withTransaction } from "../platform/transaction.js";
import { mergeStats, type EventMessage, type IngestStat } from "./message.js";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";
import { EVENT_LIMITS, type AcceptedEvent } from "./validation.js";

const DAY_MS = 86_400_000;

export interface ApplyResult {
  /** Events stored for the first time. */
  stored: number;
  /** Events that were already stored (dropped as duplicates). */
  duplicates: number;
  /** Events counted by this transaction (new ones and newly attributed ones). */
  counted: number;
  /** Events left waiting for their exposure. */
  pending: number;
  /** Decision ids exposed for the first time. */
  exposures: number;
}

export interface EventStoreOptions {
  /** How many days of event partitions to keep; older ones are dropped. */
  retentionDays: number;
  /** Pool size; the consumer and the duplicate lookups share it. */
  maxConnections?: number;
}

/** A counted event as the rollups need it. */
interface CountedEvent {
  experimentId: string;
  variantKey: string;
  eventType: string;
  subjectId: string;
  occurredAt: number;
  properties: Readonly<Record<string, unknown>>;
}

export class EventStore {
  readonly pool: pg.Pool;
  private readonly partitions = new Set<string>();

  constructor(
    databaseUrl: string,
    private readonly options: EventStoreOptions,
  ) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: 5_000,
      // A lookup from the API must not hang a call when the database stalls.
      statement_timeout: 30_000,
    });
    // Errors of idle clients (database restarts) are reported on the next query.
    this.pool.on("error", () => {});
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** The ids among `eventIds` that are already stored. */
  async storedIds(eventIds: readonly string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ event_id: string }>(
      `select event_id from event_ids where event_id = any($1::text[])`,
      [eventIds],
    );
    return new Set(rows.map((r) => r.event_id));
  }

  /**
   * Applies messages in one transaction. Messages already applied (by id)
   * contribute their events, which are deduplicated by event id anyway,
   * but not their stats again.
   */
  async apply(messages: readonly { id: string; message: EventMessage }[]): Promise<ApplyResult> {
    await this.ensurePartitions(messages.flatMap((m) => m.message.events.map((e) => e.occurredAt)));
    const result = await withTransaction(this.pool, (client) => this.applyIn(client, messages));
    // A batch applied at the same moment by another consumer may have
    // stored the exposure of an event this batch left pending, or the other
    // way round; neither transaction saw the other's rows. Whichever
    // commits last releases such events here, after its own commit.
    const linked = new Set<string>();
    for (const { message } of messages) {
      for (const e of message.events) {
        if (e.exposure || e.requiresExposure) linked.add(e.decisionId);
      }
    }
    // (Also on a redelivery that stored nothing new: the process may have
    // stopped between the two transactions.)
    if (linked.size > 0) {
      result.counted += await withTransaction(this.pool, async (client) => {
        const counted = await releasePending(client, [...linked], true);
        await addToRollups(client, counted, await reportedProperties(client));
        return counted.length;
      });
    }
    return result;
  }

  private async applyIn(
    client: pg.PoolClient,
    messages: readonly { id: string; message: EventMessage }[],
  ): Promise<ApplyResult> {
    const newMessages = await insertReturning(
      client,
      `insert into ingest_messages (message_id) select unnest($1::text[])
       on conflict do nothing returning message_id as key`,
      [messages.map((m) => m.id).sort()],
    );
    // First occurrence of each event id, sorted so concurrent consumers
    // take row locks in the same order.
    const byId = new Map<string, AcceptedEvent>();
    let total = 0;
    for (const { message } of messages) {
      for (const event of message.events) {
        total++;
        if (!byId.has(event.eventId)) byId.set(event.eventId, event);
      }
    }
    const candidates = [...byId.values()].sort((a, b) => compare(a.eventId, b.eventId));
    const fresh = await insertReturning(
      client,
      `insert into event_ids (event_id, occurred_at)
       select id, to_timestamp(at / 1000.0) from unnest($1::text[], $2::float8[]) as u(id, at)
       on conflict do nothing returning event_id as key`,
      [candidates.map((e) => e.eventId), candidates.map((e) => e.occurredAt)],
    );
    const events = candidates.filter((e) => fresh.has(e.eventId));

    const exposures = firstPerDecision(events.filter((e) => e.exposure));
    const newExposures =
      exposures.length === 0
        ? new Set<string>()
        : await insertReturning(
            client,
            `insert into exposures (decision_id, event_id, flag_key, experiment_id, variant_key, subject_id, exposed_at)
             select * from unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[])
             on conflict do nothing returning decision_id as key`,
            [
              exposures.map((e) => e.decisionId),
              exposures.map((e) => e.eventId),
              exposures.map((e) => e.flagKey),
              exposures.map((e) => e.experimentId || null),
              exposures.map((e) => e.variantKey || null),
              exposures.map((e) => e.subjectId),
              exposures.map((e) => new Date(e.occurredAt)),
            ],
          );
    const waiting = events.filter((e) => e.requiresExposure);
    const exposed =
      waiting.length === 0
        ? new Set<string>()
        : await selectKeys(
            client,
            `select decision_id as key from exposures where decision_id = any($1::text[])`,
            [[...new Set(waiting.map((e) => e.decisionId))]],
          );
    const counted = events.map((e) => !e.requiresExposure || exposed.has(e.decisionId));
    if (events.length > 0) {
      const receivedAt = new Map<string, number>();
      for (const { message } of messages) {
        for (const e of message.events) {
          if (!receivedAt.has(e.eventId)) receivedAt.set(e.eventId, message.receivedAt);
        }
      }
      // Times travel as epoch milliseconds (cheaper to encode than Dates).
      await client.query(
        `insert into events (event_id, event_type, decision_id, flag_key, experiment_id, variant_key,
                             subject_id, occurred_at, received_at, properties, counted)
         select id, type, decision, flag, experiment, variant, subject,
                to_timestamp(occurred / 1000.0), to_timestamp(received / 1000.0), props, counted
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                     $7::text[], $8::float8[], $9::float8[], $10::jsonb[], $11::bool[])
           as u(id, type, decision, flag, experiment, variant, subject, occurred, received, props, counted)`,
        [
          events.map((e) => e.eventId),
          events.map((e) => e.eventType),
          events.map((e) => e.decisionId),
          events.map((e) => e.flagKey),
          events.map((e) => e.experimentId || null),
          events.map((e) => e.variantKey || null),
          events.map((e) => e.subjectId),
          events.map((e) => e.occurredAt),
          events.map((e) => receivedAt.get(e.eventId)),
          events.map((e) => JSON.stringify(e.properties)),
          counted,
        ],
      );
    }
    const pending = events.filter((_, i) => !counted[i]);
    if (pending.length > 0) {
      await client.query(
        `insert into pending_attributions (event_id, decision_id, experiment_id, occurred_at, expires_at)
         select * from unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[], $5::timestamptz[])
         on conflict do nothing`,
        [
          pending.map((e) => e.eventId),
          pending.map((e) => e.decisionId),
          pending.map((e) => e.experimentId || null),
          pending.map((e) => new Date(e.occurredAt)),
          pending.map((e) => new Date(e.occurredAt + EVENT_LIMITS.horizonMs)),
        ],
      );
    }
    const nowCounted: CountedEvent[] = events.filter((_, i) => counted[i]);
    // Events that were waiting for one of the new exposures count now.
    if (newExposures.size > 0)
      nowCounted.push(...(await releasePending(client, [...newExposures])));
    await addToRollups(client, nowCounted, await reportedProperties(client));
    const stats = messages.filter((m) => newMessages.has(m.id)).flatMap((m) => m.message.stats);
    // Stored events per experiment: the denominator of the data-health shares.
    const storedPerExperiment = new Map<string, number>();
    for (const e of events) {
      storedPerExperiment.set(e.experimentId, (storedPerExperiment.get(e.experimentId) ?? 0) + 1);
    }
    for (const [experimentId, stored] of storedPerExperiment) {
      stats.push({ experimentId, result: "stored", reason: "", events: stored });
    }
    await addStats(client, stats, Date.now());
    return {
      stored: events.length,
      duplicates: total - events.length,
      counted: nowCounted.length,
      pending: pending.length,
      exposures: newExposures.size,
    };
  }

  /**
   * Drops pending events whose horizon has passed; returns how many, per
   * experiment, and records them in ingest_stats as dropped.
   */
  async dropExpiredPending(): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ experiment_id: string | null; events: string }>(
        `with dropped as (
           delete from pending_attributions where expires_at <= now() returning experiment_id
         )
         select experiment_id::text, count(*)::text as events from dropped group by experiment_id`,
      );
      const stats: IngestStat[] = rows.map((r) => ({
        experimentId: r.experiment_id ?? "",
        result: "dropped" as const,
        reason: "attribution_horizon",
        events: Number(r.events),
      }));
      await addStats(client, stats, Date.now());
      return stats.reduce((sum, s) => sum + s.events, 0);
    });
  }

  /** How many events wait for their exposure. */
  async pendingCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `select count(*)::text as n from pending_attributions`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Drops event partitions entirely older than the retention period, and
   * the event ids and applied-message ids of that age. Returns the
   * partitions dropped.
   */
  async applyRetention(now = Date.now()): Promise<string[]> {
    const cutoff = startOfDay(now - this.options.retentionDays * DAY_MS);
    const { rows } = await this.pool.query<{ name: string }>(
      `select c.relname as name from pg_inherits i
         join pg_class c on c.oid = i.inhrelid
         join pg_class p on p.oid = i.inhparent
       where p.relname = 'events'`,
    );
    const dropped: string[] = [];
    for (const { name } of rows) {
      const day = dayOfPartition(name);
      if (day !== undefined && day + DAY_MS <= cutoff) {
        // The partition's ids go first (found through event_ids' key), so an
        // id is never left without its event or the other way round.
        await withTransaction(this.pool, async (client) => {
          await client.query(
            `delete from event_ids i using "${name}" e where i.event_id = e.event_id`,
          );
          await client.query(`drop table if exists "${name}"`);
        });
        this.partitions.delete(name);
        dropped.push(name);
      }
    }
    await this.pool.query(`delete from ingest_messages where applied_at < $1`, [new Date(cutoff)]);
    return dropped;
  }

  /** Creates the daily partitions these timestamps fall into, if missing. */
  async ensurePartitions(timestamps: Iterable<number>): Promise<void> {
    const days = new Set<number>();
    for (const t of timestamps) days.add(startOfDay(t));
    for (const day of [...days].sort((a, b) => a - b)) {
      const name = partitionName(day);
      if (this.partitions.has(name)) continue;
      try {
        await this.pool.query(
          `create table if not exists "${name}" partition of events
           for values from ('${new Date(day).toISOString()}') to ('${new Date(day + DAY_MS).toISOString()}')`,
        );
      } catch (error) {
        // Another consumer created it at the same moment: fine if it exists now.
        const { rows } = await this.pool.query<{ found: string | null }>(
          `select to_regclass($1) as found`,
          [name],
        );
        if (rows[0]?.found == null) throw error;
      }
      this.partitions.add(name);
    }
  }
}

/**
 * Counts the pending events of these decision ids whose exposure is stored
 * (all of them when `exposedOnly` is false: the caller has just stored the
 * exposures), removing them from the pending list. Deleting the pending
 * row is what claims an event, so two transactions can never both count it.
 */
async function releasePending(
  client: pg.PoolClient,
  decisionIds: string[],
  exposedOnly = false,
): Promise<CountedEvent[]> {
  const { rows } = await client.query<{
    experiment_id: string | null;
    variant_key: string | null;
    event_type: string;
    subject_id: string;
    occurred_at: Date;
    properties: Record<string, unknown>;
  }>(
    `with released as (
       delete from pending_attributions p
       where p.decision_id = any($1::text[]) and p.expires_at > now()
         ${exposedOnly ? "and exists (select 1 from exposures x where x.decision_id = p.decision_id)" : ""}
       returning p.event_id, p.occurred_at
     )
     update events e set counted = true
     from released r
     where e.event_id = r.event_id and e.occurred_at = r.occurred_at and not e.counted
     returning e.experiment_id, e.variant_key, e.event_type, e.subject_id, e.occurred_at, e.properties`,
    [decisionIds.sort()],
  );
  return rows.map((row) => ({
    experimentId: row.experiment_id ?? "",
    variantKey: row.variant_key ?? "",
    eventType: row.event_type,
    subjectId: row.subject_id,
    occurredAt: row.occurred_at.getTime(),
    properties: row.properties,
  }));
}

async function insertReturning(
  client: pg.PoolClient,
  sql: string,
  params: unknown[],
): Promise<Set<string>> {
  const { rows } = await client.query<{ key: string }>(sql, params);
  return new Set(rows.map((r) => r.key));
}

const selectKeys = insertReturning;

function firstPerDecision(events: readonly AcceptedEvent[]): AcceptedEvent[] {
  const first = new Map<string, AcceptedEvent>();
  for (const e of events) {
    const seen = first.get(e.decisionId);
    if (seen === undefined || e.occurredAt < seen.occurredAt) first.set(e.decisionId, e);
  }
  return [...first.values()].sort((a, b) => compare(a.decisionId, b.decisionId));
}

/**
 * Adds counted events of experiments to the report rollups
 * (docs/reports.md#rollups, ADR 0009): per-minute counts, exposed subjects,
 * per-subject counts and property sums, the cohort sums those change,
 * per-minute property figures and hourly histograms (for the number
 * properties some metric reads). Tables are written in
 * one order (the rebuild locks them in the same order) and rows sorted by
 * key, so concurrent transactions lock them in the same order. Property
 * values travel as text and are summed as `numeric`, so sums do not depend
 * on the order events arrive in.
 */
async function addToRollups(
  client: pg.PoolClient,
  counted: readonly CountedEvent[],
  properties: ReadonlySet<string>,
) {
  const minutes = new Map<string, { key: string[]; minute: number; events: number }>();
  const subjects = new Map<
    string,
    { key: string[]; events: number; first: number; last: number }
  >();
  const exposed = new Map<string, { key: string[]; first: number; events: number }>();
  const subjectSums = new Map<string, { key: string[]; events: number; values: string[] }>();
  const minuteStats = new Map<string, { key: string[]; minute: number; values: string[] }>();
  const hourValues: { key: string; row: string[]; hour: number; value: string }[] = [];
  for (const e of counted) {
    if (e.experimentId === "" || e.variantKey === "") continue;
    const minute = Math.floor(e.occurredAt / 60_000) * 60_000;
    const mk = `${e.experimentId}\n${e.variantKey}\n${e.eventType}\n${minute}`;
    const m = minutes.get(mk);
    if (m === undefined) {
      minutes.set(mk, { key: [e.experimentId, e.variantKey, e.eventType], minute, events: 1 });
    } else m.events++;
    if (e.eventType === EXPOSURE_EVENT_TYPE) {
      const xk = `${e.experimentId}\n${e.variantKey}\n${e.subjectId}`;
      const x = exposed.get(xk);
      if (x === undefined) {
        exposed.set(xk, {
          key: [e.experimentId, e.variantKey, e.subjectId],
          first: e.occurredAt,
          events: 1,
        });
      } else {
        x.events++;
        x.first = Math.min(x.first, e.occurredAt);
      }
      continue;
    }
    // Keys in primary-key order (subject before type), so rows are locked
    // in one order by every transaction.
    const sk = `${e.experimentId}\n${e.variantKey}\n${e.subjectId}\n${e.eventType}`;
    const s = subjects.get(sk);
    if (s === undefined) {
      subjects.set(sk, {
        key: [e.experimentId, e.variantKey, e.subjectId, e.eventType],
        events: 1,
        first: e.occurredAt,
        last: e.occurredAt,
      });
    } else {
      s.events++;
      s.first = Math.min(s.first, e.occurredAt);
      s.last = Math.max(s.last, e.occurredAt);
    }
    for (const [property, value] of Object.entries(e.properties)) {
      if (typeof value !== "number" || !Number.isFinite(value)) continue;
      if (!properties.has(`${e.eventType}\n${property}`)) continue;
      const text = String(value);
      const pk = `${e.experimentId}\n${e.variantKey}\n${e.eventType}\n${property}`;
      const psk = `${e.experimentId}\n${e.variantKey}\n${e.subjectId}\n${e.eventType}\n${property}`;
      const ps = subjectSums.get(psk);
      if (ps === undefined) {
        subjectSums.set(psk, {
          key: [e.experimentId, e.variantKey, e.subjectId, e.eventType, property],
          events: 1,
          values: [text],
        });
      } else {
        ps.events++;
        ps.values.push(text);
      }
      const hour = Math.floor(e.occurredAt / 3_600_000) * 3_600_000;
      hourValues.push({
        key: `${pk}\n${hour}`,
        row: [e.experimentId, e.variantKey, e.eventType, property],
        hour,
        value: text,
      });
      const pm = minuteStats.get(`${pk}\n${minute}`);
      if (pm === undefined) {
        minuteStats.set(`${pk}\n${minute}`, {
          key: [e.experimentId, e.variantKey, e.eventType, property],
          minute,
          values: [text],
        });
      } else pm.values.push(text);
    }
  }
  if (minutes.size > 0) {
    const rows = sortedValues(minutes);
    await client.query(
      `insert into event_counts (experiment_id, variant_key, event_type, minute, events)
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[])
       on conflict (experiment_id, variant_key, event_type, minute)
       do update set events = event_counts.events + excluded.events`,
      [
        rows.map((r) => r.key[0]),
        rows.map((r) => r.key[1]),
        rows.map((r) => r.key[2]),
        rows.map((r) => new Date(r.minute)),
        rows.map((r) => r.events),
      ],
    );
  }
  // Per-variant sums over cohorts (cohort_stats), changed by the deltas
  // the per-subject upserts below cause. Accumulated as text, summed in SQL.
  const deltas: CohortDelta[] = [];
  await lockSubjects(client, [
    ...[...exposed.values()].map((x) => x.key),
    ...[...subjects.values()].map((x) => x.key.slice(0, 3)),
  ]);
  if (exposed.size > 0) {
    const rows = sortedValues(exposed);
    const { rows: subjects } = await client.query<{
      experiment_id: string;
      variant_key: string;
      subject_id: string;
      first_exposed_at: Date | null;
      exposures: string;
      counted_cohort: Date | null;
    }>(
      `insert into report_subjects (experiment_id, variant_key, subject_id, first_exposed_at, exposures)
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[])
       on conflict (experiment_id, variant_key, subject_id)
       do update set exposures = report_subjects.exposures + excluded.exposures,
                     first_exposed_at = least(report_subjects.first_exposed_at, excluded.first_exposed_at)
       returning experiment_id, variant_key, subject_id, first_exposed_at, exposures::text, counted_cohort`,
      [
        rows.map((r) => r.key[0]),
        rows.map((r) => r.key[1]),
        rows.map((r) => r.key[2]),
        rows.map((r) => new Date(r.first)),
        rows.map((r) => r.events),
      ],
    );
    const added = new Map(rows.map((r) => [r.key.join("\n"), r.events]));
    deltas.push(
      ...(await exposureDeltas(
        client,
        subjects
          .map((r) => {
            const exposures = Number(r.exposures);
            return {
              key: [r.experiment_id, r.variant_key, r.subject_id],
              oldCohort: r.counted_cohort,
              // Set: this statement has just recorded an exposure of the subject.
              newCohort: new Date(
                Math.floor((r.first_exposed_at?.getTime() ?? 0) / 60_000) * 60_000,
              ),
              oldExposures:
                exposures -
                (added.get(`${r.experiment_id}\n${r.variant_key}\n${r.subject_id}`) ?? 0),
              newExposures: exposures,
            };
          })
          .sort((a, b) => compare(a.key.join("\n"), b.key.join("\n"))),
      )),
    );
  }
  if (subjects.size > 0) {
    const rows = sortedValues(subjects);
    const { rows: updated } = await client.query<QuantityRow>(
      `with r as (
         select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[], $7::timestamptz[])
           as r(experiment_id, variant_key, subject_id, event_type, events, first_at, last_at)
       ), ins as (
         insert into subject_event_counts (experiment_id, variant_key, subject_id, event_type, events, first_at, last_at)
         select * from r
         on conflict (experiment_id, variant_key, subject_id, event_type)
         do update set events = subject_event_counts.events + excluded.events,
                       first_at = least(subject_event_counts.first_at, excluded.first_at),
                       last_at = greatest(subject_event_counts.last_at, excluded.last_at)
         returning experiment_id, variant_key, subject_id, event_type, events
       )
       select ins.experiment_id, ins.variant_key, ins.subject_id, ins.event_type, '' as property,
              ins.events::text as value, r.events::text as delta
       from ins join r using (experiment_id, variant_key, subject_id, event_type)`,
      [
        rows.map((r) => r.key[0]),
        rows.map((r) => r.key[1]),
        rows.map((r) => r.key[2]),
        rows.map((r) => r.key[3]),
        rows.map((r) => r.events),
        rows.map((r) => new Date(r.first)),
        rows.map((r) => new Date(r.last)),
      ],
    );
    deltas.push(...(await quantityDeltas(client, updated)));
  }
  if (subjectSums.size > 0) {
    const rows = sortedValues(subjectSums);
    const { owner, values } = flattenValues(rows);
    const { rows: updated } = await client.query<QuantityRow>(
      `with v as (
         select o, sum(x::numeric) as total from unnest($7::int[], $8::text[]) as v(o, x) group by o
       ), r as (
         select r.e as experiment_id, r.v as variant_key, r.s as subject_id, r.t as event_type,
                r.p as property, r.n as events, v.total, r.o
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
           with ordinality as r(e, v, s, t, p, n, o)
         join v on v.o = r.o
       ), ins as (
         insert into subject_property_sums (experiment_id, variant_key, subject_id, event_type, property, events, total)
         select experiment_id, variant_key, subject_id, event_type, property, events, total from r order by o
         on conflict (experiment_id, variant_key, subject_id, event_type, property)
         do update set events = subject_property_sums.events + excluded.events,
                       total = subject_property_sums.total + excluded.total
         returning experiment_id, variant_key, subject_id, event_type, property, total
       )
       select ins.experiment_id, ins.variant_key, ins.subject_id, ins.event_type, ins.property,
              ins.total::text as value, r.total::text as delta
       from ins join r using (experiment_id, variant_key, subject_id, event_type, property)`,
      [
        rows.map((r) => r.key[0]),
        rows.map((r) => r.key[1]),
        rows.map((r) => r.key[2]),
        rows.map((r) => r.key[3]),
        rows.map((r) => r.key[4]),
        rows.map((r) => r.events),
        owner,
        values,
      ],
    );
    deltas.push(...(await quantityDeltas(client, updated)));
  }
  await addCohortDeltas(client, deltas);
  if (minuteStats.size > 0) {
    const rows = sortedValues(minuteStats);
    const { owner, values } = flattenValues(rows);
    await client.query(
      `with v as (
         select o, count(*) as n, sum(x::numeric) as total, sum(x::numeric * x::numeric) as squares
         from unnest($6::int[], $7::text[]) as v(o, x) group by o
       )
       insert into minute_property_stats (experiment_id, variant_key, event_type, property, minute, events, total, total_squares)
       select r.e, r.v, r.t, r.p, r.m, v.n, v.total, v.squares
       from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
         with ordinality as r(e, v, t, p, m, o)
       join v on v.o = r.o
       order by r.o
       on conflict (experiment_id, variant_key, event_type, property, minute)
       do update set events = minute_property_stats.events + excluded.events,
                     total = minute_property_stats.total + excluded.total,
                     total_squares = minute_property_stats.total_squares + excluded.total_squares`,
      [
        rows.map((r) => r.key[0]),
        rows.map((r) => r.key[1]),
        rows.map((r) => r.key[2]),
        rows.map((r) => r.key[3]),
        rows.map((r) => new Date(r.minute)),
        owner,
        values,
      ],
    );
  }
  await addToHistograms(client, hourValues);
}

/**
 * The number properties some metric reads (SUM, MEAN, PERCENTILE), as
 * `type\nproperty`: only these are rolled up. Read in every transaction
 * (the catalog is small), so a metric counts every event applied after it
 * was created; `npm run reports:rebuild` fills in earlier events.
 */
async function reportedProperties(client: pg.PoolClient): Promise<Set<string>> {
  const { rows } = await client.query<{ key: string }>(
    `select distinct event_type_key || E'\n' || property as key from metrics
     where property is not null and event_type_key is not null`,
  );
  return new Set(rows.map((r) => r.key));
}

/**
 * Locks subjects (experiment, variant, subject) for the rest of the
 * transaction, in key order: the cohort bookkeeping reads a subject's
 * figures and changes them in several statements, and two transactions
 * must never interleave on one subject. The lock is the subject's
 * report_subjects row, created first when missing (a subject whose events
 * need no exposure may have figures before it is exposed), so that two
 * transactions creating a subject's first rows also wait for each other.
 * Row locks live in the rows, so a batch may lock any number of subjects.
 */
async function lockSubjects(client: pg.PoolClient, keys: readonly (readonly string[])[]) {
  if (keys.length === 0) return;
  const unique = new Map(keys.map((k) => [k.join("\n"), k]));
  const sorted = [...unique.entries()].sort(([a], [b]) => compare(a, b)).map(([, k]) => k);
  const params = [sorted.map((k) => k[0]), sorted.map((k) => k[1]), sorted.map((k) => k[2])];
  await client.query(
    `insert into report_subjects (experiment_id, variant_key, subject_id, first_exposed_at, exposures)
     select e, v, s, null, 0 from unnest($1::uuid[], $2::text[], $3::text[]) as u(e, v, s)
     on conflict do nothing`,
    params,
  );
  await client.query(
    `select 1 from report_subjects r
     join unnest($1::uuid[], $2::text[], $3::text[]) as u(e, v, s)
       on r.experiment_id = u.e and r.variant_key = u.v and r.subject_id = u.s
     order by r.experiment_id, r.variant_key, r.subject_id
     for update of r`,
    params,
  );
}

/** A change to one cohort_stats row; numbers as text (exact numeric). */
interface CohortDelta {
  experimentId: string;
  variantKey: string;
  cohort: Date;
  eventType: string;
  property: string;
  subjects: string;
  total: string;
  squares: string;
  byExposures: string;
}

/** A per-subject figure after an upsert: its new value and the change. */
interface QuantityRow {
  experiment_id: string;
  variant_key: string;
  subject_id: string;
  event_type: string;
  property: string;
  value: string;
  delta: string;
}

interface DeltaRow {
  experiment_id: string;
  variant_key: string;
  cohort: Date;
  event_type: string;
  property: string;
  subjects: string;
  total: string;
  squares: string;
  by_exposures: string;
}

const toDelta = (r: DeltaRow): CohortDelta => ({
  experimentId: r.experiment_id,
  variantKey: r.variant_key,
  cohort: r.cohort,
  eventType: r.event_type,
  property: r.property,
  subjects: r.subjects,
  total: r.total,
  squares: r.squares,
  byExposures: r.by_exposures,
});

/**
 * Cohort changes caused by new exposures. A subject whose cohort minute is
 * new (first exposure, or an earlier one arrived) moves its whole
 * contribution from the cohort it was counted under to the new one; a
 * subject that stays gains exposures (and Σx·exposures grows by x·Δe for
 * each of its figures). Runs under the subjects' locks (lockSubjects).
 */
async function exposureDeltas(
  client: pg.PoolClient,
  subjects: {
    key: string[];
    oldCohort: Date | null;
    newCohort: Date;
    oldExposures: number;
    newExposures: number;
  }[],
): Promise<CohortDelta[]> {
  if (subjects.length === 0) return [];
  const params = [
    subjects.map((s) => s.key[0]),
    subjects.map((s) => s.key[1]),
    subjects.map((s) => s.key[2]),
    subjects.map((s) => s.oldCohort),
    subjects.map((s) => s.newCohort),
    subjects.map((s) => s.oldExposures),
    subjects.map((s) => s.newExposures),
  ];
  const s = `select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::numeric[], $7::numeric[])
    as s(experiment_id, variant_key, subject_id, old_cohort, new_cohort, e_old, e_new)`;
  const { rows } = await client.query<DeltaRow>(
    `with s as (${s}),
     q as (
       select c.experiment_id, c.variant_key, c.subject_id, c.event_type, ''::text as property, c.events::numeric as x
       from subject_event_counts c join s using (experiment_id, variant_key, subject_id)
       union all
       select p.experiment_id, p.variant_key, p.subject_id, p.event_type, p.property, p.total
       from subject_property_sums p join s using (experiment_id, variant_key, subject_id)
     ),
     d as (
       -- Moves: the whole contribution leaves the old cohort …
       select s.experiment_id, s.variant_key, s.old_cohort as cohort, ''::text as event_type, ''::text as property,
              -1 as subjects, -s.e_old as total, -s.e_old * s.e_old as squares, 0::numeric as by_e
       from s where s.old_cohort is not null and s.old_cohort <> s.new_cohort
       union all
       select q.experiment_id, q.variant_key, s.old_cohort, q.event_type, q.property,
              -(q.x > 0)::int, -q.x, -q.x * q.x, -q.x * s.e_old
       from q join s using (experiment_id, variant_key, subject_id)
       where s.old_cohort is not null and s.old_cohort <> s.new_cohort
       union all
       -- … and joins the new one.
       select s.experiment_id, s.variant_key, s.new_cohort, '', '', 1, s.e_new, s.e_new * s.e_new, 0
       from s where s.old_cohort is distinct from s.new_cohort
       union all
       select q.experiment_id, q.variant_key, s.new_cohort, q.event_type, q.property,
              (q.x > 0)::int, q.x, q.x * q.x, q.x * s.e_new
       from q join s using (experiment_id, variant_key, subject_id)
       where s.old_cohort is distinct from s.new_cohort
       union all
       -- Same cohort, more exposures.
       select s.experiment_id, s.variant_key, s.new_cohort, '', '', 0, s.e_new - s.e_old,
              s.e_new * s.e_new - s.e_old * s.e_old, 0
       from s where s.old_cohort = s.new_cohort
       union all
       select q.experiment_id, q.variant_key, s.new_cohort, q.event_type, q.property,
              0, 0, 0, q.x * (s.e_new - s.e_old)
       from q join s using (experiment_id, variant_key, subject_id)
       where s.old_cohort = s.new_cohort
     )
     select experiment_id, variant_key, cohort, event_type, property, sum(subjects)::text as subjects,
            sum(total)::text as total, sum(squares)::text as squares, sum(by_e)::text as by_exposures
     from d group by 1, 2, 3, 4, 5`,
    params,
  );
  const moved = subjects.filter((x) => x.oldCohort?.getTime() !== x.newCohort.getTime());
  if (moved.length > 0) {
    await client.query(
      `update report_subjects r set counted_cohort = m.cohort
       from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) as m(e, v, s, cohort)
       where r.experiment_id = m.e and r.variant_key = m.v and r.subject_id = m.s`,
      [
        moved.map((x) => x.key[0]),
        moved.map((x) => x.key[1]),
        moved.map((x) => x.key[2]),
        moved.map((x) => x.newCohort),
      ],
    );
  }
  return rows.map(toDelta);
}

/**
 * Cohort changes caused by per-subject figures that changed (x − Δ → x),
 * for subjects already counted in a cohort; subjects not exposed yet join
 * a cohort with all their figures when they are.
 */
async function quantityDeltas(
  client: pg.PoolClient,
  rows: readonly QuantityRow[],
): Promise<CohortDelta[]> {
  if (rows.length === 0) return [];
  const { rows: deltas } = await client.query<DeltaRow>(
    `with q as (
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::numeric[])
         as q(experiment_id, variant_key, subject_id, event_type, property, x, dx)
     )
     select q.experiment_id, q.variant_key, r.counted_cohort as cohort, q.event_type, q.property,
            sum((q.x > 0)::int - (q.x - q.dx > 0)::int)::text as subjects, sum(q.dx)::text as total,
            sum(q.x * q.x - (q.x - q.dx) * (q.x - q.dx))::text as squares,
            sum(q.dx * r.exposures)::text as by_exposures
     from q join report_subjects r using (experiment_id, variant_key, subject_id)
     where r.counted_cohort is not null
     group by 1, 2, 3, 4, 5`,
    [
      rows.map((r) => r.experiment_id),
      rows.map((r) => r.variant_key),
      rows.map((r) => r.subject_id),
      rows.map((r) => r.event_type),
      rows.map((r) => r.property),
      rows.map((r) => r.value),
      rows.map((r) => r.delta),
    ],
  );
  return deltas.map(toDelta);
}

/** Applies cohort deltas, one upsert per cohort row, in key order. */
async function addCohortDeltas(client: pg.PoolClient, deltas: readonly CohortDelta[]) {
  if (deltas.length === 0) return;
  await client.query(
    `insert into cohort_stats (experiment_id, variant_key, cohort_minute, event_type, property,
                               subjects, total, total_squares, total_by_exposures)
     select e, v, c, t, p, sum(n), sum(x), sum(xx), sum(xe)
     from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                 $6::bigint[], $7::numeric[], $8::numeric[], $9::numeric[]) as d(e, v, c, t, p, n, x, xx, xe)
     group by 1, 2, 3, 4, 5
     order by 1, 2, 3, 4, 5
     on conflict (experiment_id, variant_key, cohort_minute, event_type, property)
     do update set subjects = cohort_stats.subjects + excluded.subjects,
                   total = cohort_stats.total + excluded.total,
                   total_squares = cohort_stats.total_squares + excluded.total_squares,
                   total_by_exposures = cohort_stats.total_by_exposures + excluded.total_by_exposures`,
    [
      deltas.map((d) => d.experimentId),
      deltas.map((d) => d.variantKey),
      deltas.map((d) => d.cohort),
      deltas.map((d) => d.eventType),
      deltas.map((d) => d.property),
      deltas.map((d) => d.subjects),
      deltas.map((d) => d.total),
      deltas.map((d) => d.squares),
      deltas.map((d) => d.byExposures),
    ],
  );
}

/**
 * Adds values to the hourly histograms. Buckets are computed by
 * lotty_value_bucket() in SQL, and rows are grouped and written in key
 * order so concurrent transactions lock them in the same order.
 */
async function addToHistograms(
  client: pg.PoolClient,
  values: readonly { key: string; row: string[]; hour: number; value: string }[],
) {
  if (values.length === 0) return;
  const sorted = [...values].sort((a, b) => compare(a.key, b.key));
  await client.query(
    `insert into hour_value_histograms (experiment_id, variant_key, event_type, property, hour, bucket, events)
     select e, v, t, p, h, lotty_value_bucket(x::numeric) as b, count(*)
     from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
       as u(e, v, t, p, h, x)
     group by 1, 2, 3, 4, 5, 6
     order by 1, 2, 3, 4, 5, 6
     on conflict (experiment_id, variant_key, event_type, property, hour, bucket)
     do update set events = hour_value_histograms.events + excluded.events`,
    [
      sorted.map((v) => v.row[0]),
      sorted.map((v) => v.row[1]),
      sorted.map((v) => v.row[2]),
      sorted.map((v) => v.row[3]),
      sorted.map((v) => new Date(v.hour)),
      sorted.map((v) => v.value),
    ],
  );
}

/**
 * Each row's value list flattened, with its 1-based row number alongside:
 * the values travel as text and are summed in SQL as numeric, exactly.
 */
function flattenValues(rows: readonly { values: readonly string[] }[]) {
  const owner: number[] = [];
  const values: string[] = [];
  rows.forEach((r, i) => {
    for (const v of r.values) {
      owner.push(i + 1);
      values.push(v);
    }
  });
  return { owner, values };
}

/** The map's values in the order of their keys. */
function sortedValues<T>(map: Map<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => compare(a, b)).map(([, v]) => v);
}

async function addStats(
  client: pg.PoolClient,
  stats: readonly IngestStat[],
  now: number,
): Promise<void> {
  const rows = mergeStats(stats);
  if (rows.length === 0) return;
  const day = new Date(startOfDay(now)).toISOString().slice(0, 10);
  await client.query(
    `insert into ingest_stats (day, experiment_id, result, reason, events)
     select $1::date, * from unnest($2::text[], $3::text[], $4::text[], $5::bigint[])
     on conflict (day, experiment_id, result, reason)
     do update set events = ingest_stats.events + excluded.events`,
    [
      day,
      rows.map((r) => r.experimentId),
      rows.map((r) => r.result),
      rows.map((r) => r.reason),
      rows.map((r) => r.events),
    ],
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** events_pYYYYMMDD for the UTC day starting at `day`. */
function partitionName(day: number): string {
  return `events_p${new Date(day).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

function dayOfPartition(name: string): number | undefined {
  const match = /^events_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (match === null) return undefined;
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
}
