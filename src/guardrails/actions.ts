/**
 * What happens when a guardrail fires, in one transaction through the same
 * lifecycle code as a manual pause (runTransition): the experiment goes to
 * PAUSED (with rolled_back set for GUARDRAIL_ACTION_ROLLBACK), the history
 * entry GUARDRAIL_PAUSED / GUARDRAIL_ROLLED_BACK is written with no actor
 * and the breach as its comment, and the trigger record is inserted. After
 * the commit, decide nodes reload their snapshot and `guardrail.triggered`
 * goes to the notifier.
 *
 * At most once: the row lock and the status machine refuse a second pause,
 * and guardrail_triggers is unique per (experiment, run, rule), so two
 * monitors racing on one breach write one record.
 */
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { EntityManager } from "@mikro-orm/core";
import type { GuardrailConfig } from "../experiments/lookup.js";
import { runTransition } from "../experiments/transitions.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import { describeBreach, type Breach } from "./evaluate.js";

export const GUARDRAIL_TRIGGER = "guardrail.triggered";

export interface FiredGuardrail {
  id: string;
  triggeredAt: Date;
}

/** Thrown inside the transaction when this rule already fired in this run. */
class AlreadyFired extends Error {}

/** The experiment's run: how many times it was started or resumed. */
async function currentRun(tx: EntityManager, experimentId: string): Promise<number> {
  const rows = await tx.getConnection().execute<{ runs: string }[]>(
    `select count(*)::text as runs from audit_log
       where entity_type = 'experiment' and entity_id = ? and action in ('start', 'resume')`,
    [experimentId],
    "all",
    tx.getTransactionContext(),
  );
  return Number(rows[0]?.runs ?? 0);
}

/**
 * Executes the rule's action. Returns undefined when it did not fire: the
 * experiment is no longer running, or this rule already fired in this run.
 */
export async function fireGuardrail(
  db: DatabaseHandle,
  changes: ChangePublisher,
  experimentId: string,
  ruleIndex: number,
  rule: GuardrailConfig,
  breach: Breach,
): Promise<FiredGuardrail | undefined> {
  const fired: FiredGuardrail = { id: randomUUID(), triggeredAt: new Date() };
  const summary = describeBreach(rule, breach);
  try {
    await runTransition(db, changes, {
      id: experimentId,
      action: "pause",
      actorId: null,
      comment: summary,
      auditAction: rule.action === "rollback" ? "guardrail_rolled_back" : "guardrail_paused",
      apply: async (tx, experiment) => {
        if (rule.action === "rollback") experiment.rolledBack = true;
        const inserted = await tx.getConnection().execute(
          `insert into guardrail_triggers (id, experiment_id, experiment_version, run, rule_index,
             metric_key, threshold, direction, window_seconds, min_sample_size, action,
             observed_value, variant_key, sample_size, triggered_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           on conflict on constraint guardrail_triggers_once do nothing`,
          [
            fired.id,
            experimentId,
            experiment.version,
            await currentRun(tx, experimentId),
            ruleIndex,
            rule.metricKey,
            rule.threshold,
            rule.direction,
            rule.windowSeconds,
            rule.minSampleSize,
            rule.action,
            breach.observedValue,
            breach.variantKey,
            breach.sampleSize,
            fired.triggeredAt,
          ],
          "run",
          tx.getTransactionContext(),
        );
        if (inserted.affectedRows === 0) throw new AlreadyFired();
        return true;
      },
      notice: {
        trigger: GUARDRAIL_TRIGGER,
        details: {
          triggerId: fired.id,
          summary,
          metricKey: rule.metricKey,
          threshold: rule.threshold,
          direction: rule.direction,
          windowSeconds: rule.windowSeconds,
          minSampleSize: rule.minSampleSize,
          action: rule.action,
          observedValue: breach.observedValue,
          variantKey: breach.variantKey,
          sampleSize: breach.sampleSize,
          triggeredAt: fired.triggeredAt.toISOString(),
        },
      },
    });
  } catch (error) {
    if (error instanceof AlreadyFired) return undefined;
    // Paused, completed meanwhile (by a user or another monitor).
    if (error instanceof ConnectError && error.code === Code.FailedPrecondition) return undefined;
    throw error;
  }
  return fired;
}
