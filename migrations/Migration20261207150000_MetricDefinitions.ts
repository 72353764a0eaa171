import { Migration } from "@mikro-orm/migrations";

/**
 * FUNNEL, RETENTION and session metrics (docs/funnels.md): their
 * kind-specific definition (steps, conversion window and order; retention
 * days; session gap) as one jsonb column, null for the other kinds.
 */
export class Migration20261207150000_MetricDefinitions extends Migration {
  override name = "Migration20261207150000_MetricDefinitions";

  override up(): void | Promise<void> {
    this.addSql(`alter table "metrics" add "definition" jsonb null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "metrics" drop column "definition";`);
  }
}
