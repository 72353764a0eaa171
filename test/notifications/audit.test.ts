/**
 * Notification channels and rules are configuration: creating one writes
 * an audit row in the same transaction, with the masked url and never the
 * url or the secret.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  ChannelKind,
  NotificationService,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { query } from "../events/support.js";

const SECRET = "an-audited-signing-secret";
const URL_TOKEN = "hook-path-token-123";

describe("notification audit rows", () => {
  let t: TestApp;
  let notifications: ReturnType<typeof client<typeof NotificationService>>;

  beforeAll(async () => {
    t = await startTestApp();
    notifications = client(NotificationService, t.baseUrl, t.adminKey);
  });

  afterAll(async () => {
    await t?.stop();
  });

  async function auditOf(entityType: string, entityId: string) {
    return query<{
      action: string;
      actor_id: string | null;
      data: Record<string, unknown> | null;
    }>(
      t,
      "select action, actor_id, data from audit_log where entity_type = $1 and entity_id = $2 order by at, action",
      [entityType, entityId],
    );
  }

  it("CreateChannel and CreateRule write one audit row each, without the url or secret", async () => {
    const { channel } = await notifications.createChannel({
      channel: {
        name: "Audited hook",
        kind: ChannelKind.WEBHOOK,
        url: `http://127.0.0.1:9/${URL_TOKEN}`,
        secret: SECRET,
      },
    });
    const channelRows = await auditOf("notification_channel", channel!.id);
    expect(channelRows).toEqual([
      {
        action: "notification_channel.created",
        actor_id: channel!.createdBy,
        data: { name: "Audited hook", kind: "webhook", url: channel!.url },
      },
    ]);
    const written = JSON.stringify(channelRows);
    expect(written).not.toContain(SECRET);
    expect(written).not.toContain(URL_TOKEN);

    const { rule } = await notifications.createRule({
      rule: {
        name: "Audited rule",
        triggers: ["guardrail.triggered"],
        channelIds: [channel!.id],
        rateLimitPerMinute: 5,
      },
    });
    expect(await auditOf("notification_rule", rule!.id)).toEqual([
      {
        action: "notification_rule.created",
        actor_id: rule!.createdBy,
        data: {
          name: "Audited rule",
          triggers: ["guardrail.triggered"],
          experimentId: null,
          flagKey: null,
          ownerId: null,
          channelIds: [channel!.id],
          rateLimitPerMinute: 5,
        },
      },
    ]);
  });

  it("writes no audit row for a rejected channel", async () => {
    const name = "rejected audit probe";
    await expect(
      notifications.createChannel({ channel: { name, url: "http://127.0.0.1/" } }),
    ).rejects.toThrow();
    const rows = await query(
      t,
      "select 1 from audit_log where entity_type = 'notification_channel' and data->>'name' = $1",
      [name],
    );
    expect(rows).toEqual([]);
  });
});
