import { Migration } from "@mikro-orm/migrations";

/** The built-in exposure event type and the reference metrics of a fresh install. */
export class Migration20261122144300_CatalogSeed extends Migration {
  override name = "Migration20261122144300_CatalogSeed";

  override up(): void | Promise<void> {
    this
      .addSql(`insert into "event_types" ("key", "name", "description", "properties", "requires_exposure", "builtin", "created_at", "updated_at") values
      ('exposure', 'Exposure', 'A subject was shown the value Decide returned; carries the decision id.', '[]', false, true, now(), now()),
      ('conversion', 'Conversion', 'The subject completed the goal of the experiment.', '[{"name":"value","type":"number","required":false}]', true, true, now(), now()),
      ('error', 'Error', 'The subject hit an error.', '[{"name":"code","type":"string","required":false}]', true, true, now(), now()),
      ('latency', 'Latency', 'A measured duration for the subject, in milliseconds.', '[{"name":"ms","type":"number","required":true}]', true, true, now(), now())
      on conflict ("key") do nothing;`);
    this
      .addSql(`insert into "metrics" ("key", "name", "description", "kind", "event_type_key", "property", "percentile", "numerator_key", "denominator_key", "requires_exposure", "builtin", "created_at", "updated_at") values
      ('exposures', 'Exposures', 'Number of exposure events.', 'count', 'exposure', null, null, null, null, false, true, now(), now()),
      ('conversions', 'Conversions', 'Number of conversion events of exposed subjects.', 'count', 'conversion', null, null, null, null, true, true, now(), now()),
      ('conversion_rate', 'Conversion rate', 'Share of exposed subjects with at least one conversion.', 'conversion_rate', 'conversion', null, null, null, null, true, true, now(), now()),
      ('errors', 'Errors', 'Number of error events of exposed subjects.', 'count', 'error', null, null, null, null, true, true, now(), now()),
      ('latency_mean', 'Mean latency', 'Mean of latency.ms, in milliseconds.', 'mean', 'latency', 'ms', null, null, null, true, true, now(), now()),
      ('latency_p95', 'p95 latency', '95th percentile of latency.ms, in milliseconds.', 'percentile', 'latency', 'ms', 95, null, null, true, true, now(), now())
      on conflict ("key") do nothing;`);
    this
      .addSql(`insert into "metrics" ("key", "name", "description", "kind", "event_type_key", "property", "percentile", "numerator_key", "denominator_key", "requires_exposure", "builtin", "created_at", "updated_at") values
      ('error_rate', 'Error rate', 'Errors per exposure.', 'ratio', null, null, null, 'errors', 'exposures', true, true, now(), now())
      on conflict ("key") do nothing;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`delete from "metrics" where "builtin" and "key" = 'error_rate';`);
    this.addSql(`delete from "metrics" where "builtin";`);
    this.addSql(`delete from "event_types" where "builtin";`);
  }
}
