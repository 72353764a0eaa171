/**
 * lotty.guardrails.v1.GuardrailService: the trigger records the monitor
 * writes (actions.ts), newest first.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import { Direction, GuardrailAction } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { GuardrailService } from "../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { FieldViolations, invalidArgument, notFound } from "../platform/errors.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { checkUuid, isUuid } from "../platform/validation.js";

interface TriggerRow {
  id: string;
  experiment_id: string;
  experiment_version: number;
  metric_key: string;
  threshold: number;
  direction: string;
  window_seconds: number;
  action: string;
  observed_value: number;
  variant_key: string;
  sample_size: string;
  triggered_at: Date;
}

/** Page tokens carry the last row's time (µs precision kept as text) and id. */
function afterOf(token: string): { at: string; id: string } | undefined {
  const after = decodePageToken(token);
  if (after === undefined) return undefined;
  const [at, id] = after.split("|");
  if (at === undefined || id === undefined || !isUuid(id) || Number.isNaN(Date.parse(at))) {
    throw invalidArgument("page_token", "is not a token returned by this RPC");
  }
  return { at, id };
}

export class GuardrailServiceImpl implements ServiceImpl<typeof GuardrailService> {
  private readonly pool: () => pg.Pool;

  constructor(deps: { pool: () => pg.Pool }) {
    this.pool = deps.pool;
  }

  async listGuardrailTriggers(req: { experimentId: string; pageSize: number; pageToken: string }) {
    const v = new FieldViolations();
    if (req.experimentId !== "") checkUuid(v, "experiment_id", req.experimentId);
    v.throwIfAny();
    const size = pageSize(req.pageSize);
    const after = afterOf(req.pageToken);
    const pool = this.pool();
    if (req.experimentId !== "") {
      const found = await pool.query("select 1 from experiments where id = $1", [req.experimentId]);
      if (found.rowCount === 0) throw notFound("experiment", req.experimentId);
    }
    const { rows } = await pool.query<TriggerRow & { at_text: string }>(
      `select *, triggered_at::text as at_text from guardrail_triggers
       where ($1::uuid is null or experiment_id = $1::uuid)
         and ($2::timestamptz is null or (triggered_at, id) < ($2::timestamptz, $3::uuid))
       order by triggered_at desc, id desc
       limit $4`,
      [req.experimentId || null, after?.at ?? null, after?.id ?? null, size + 1],
    );
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      triggers: page.map((r) => ({
        id: r.id,
        experimentId: r.experiment_id,
        metricKey: r.metric_key,
        threshold: r.threshold,
        windowSeconds: r.window_seconds,
        action: r.action === "rollback" ? GuardrailAction.ROLLBACK : GuardrailAction.PAUSE,
        observedValue: r.observed_value,
        triggeredAt: timestampFromDate(r.triggered_at),
        direction:
          r.direction === "decrease_is_bad" ? Direction.DECREASE_IS_BAD : Direction.INCREASE_IS_BAD,
        variantKey: r.variant_key,
        sampleSize: Math.min(Number(r.sample_size), 2_147_483_647),
        experimentVersion: r.experiment_version,
      })),
      nextPageToken:
        rows.length > size && last ? encodePageToken(`${last.at_text}|${last.id}`) : "",
    };
  }
}
