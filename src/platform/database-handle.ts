/**
 * The database as services see it: available once the ORM is connected and
 * migrations are applied; before that every use is UNAVAILABLE (retryable).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";

export class DatabaseHandle {
  private current: MikroORM | undefined;

  get orm(): MikroORM {
    if (this.current === undefined) {
      throw new ConnectError("the database is not ready yet; retry shortly", Code.Unavailable);
    }
    return this.current;
  }

  get isOpen(): boolean {
    return this.current !== undefined;
  }

  set(orm: MikroORM | undefined): void {
    this.current = orm;
  }
}
