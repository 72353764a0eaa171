import { Migration } from "@mikro-orm/migrations";

/**
 * The transactional outbox (src/platform/outbox.ts): configuration-change
 * notices and lifecycle notifications are written here in the transaction
 * of the change they announce and relayed to NATS after it commits, so
 * none is lost while NATS is down. A row is deleted once JetStream has
 * acknowledged it; `msg_id` is the JetStream message id, so a row
 * published twice (a relay that died before deleting it) is stored once.
 */
export class Migration20261207050000_Outbox extends Migration {
  override name = "Migration20261207050000_Outbox";

  override up(): void | Promise<void> {
    this.addSql(`create table "outbox" (
      "id" bigserial primary key,
      "subject" text not null,
      "body" text not null,
      "msg_id" text not null,
      "created_at" timestamptz not null default now()
    );`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "outbox";`);
  }
}
