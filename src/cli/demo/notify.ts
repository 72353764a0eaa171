/**
 * Notifications on the demo data: one webhook channel and two rules, made
 * before any experiment moves, so the demo's own events are delivered:
 *
 * - "Stride demo alerts": B's and F's guardrails, I's ramp safety action (and
 *   any ramp hold), and the data-quality alarms (J's sample ratio mismatch);
 * - "Stride daily digest": every demo experiment's status and primary metric,
 *   once a day at DIGEST_HOUR_UTC.
 *
 * Where the webhooks go: LOTTY_DEMO_WEBHOOK_URL (DemoOptions.webhookUrl) when
 * set, your own receiver; otherwise the demo receives them itself while it
 * runs, on http://127.0.0.1:<port>/stride-demo-webhook (port 8091, or
 * LOTTY_DEMO_WEBHOOK_PORT), which Lotty reaches only when it runs on the same
 * machine. Channels cannot be updated or deleted, so the channel is found by
 * its name, which carries a digest of its url: the same url reuses it on
 * every run, another url makes another channel (and rules). Once the demo has
 * ended nothing listens on its own receiver: later notifications to it (the
 * daily digest, an alert after you resume I) are retried and end FAILED.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { notificationsV1 } from "../../../clients/node/src/index.js";
import type { DemoSummary, DeliveryHighlights, NotificationHighlights } from "./summary.js";
import { DemoError } from "./summary.js";
import { type Run, findOrCreate, poll, required } from "./helpers.js";

const { ChannelKind, DeliveryStatus, DigestPeriod } = notificationsV1;
interface RuleInit {
  triggers: string[];
  channelIds: string[];
  digest?: MessageInitShape<typeof notificationsV1.DigestScheduleSchema>;
}

export const DEFAULT_WEBHOOK_PORT = 8091;
export const WEBHOOK_PATH = "/stride-demo-webhook";
/** When the daily digest is sent. */
export const DIGEST_HOUR_UTC = 8;
/** How long the demo waits, at its end, for its deliveries to be sent. */
export const DELIVERY_TIMEOUT_MS = 30_000;

/** What the alerts rule sends. */
export const ALERT_TRIGGERS = [
  "guardrail.triggered",
  "ramp.safety_action",
  "ramp.held",
  "data_quality.srm",
  "data_quality.volume_drop",
  "data_quality.volume_spike",
  "data_quality.rejected_share",
  "data_quality.attribution_backlog",
];

export interface Received {
  trigger: string;
  experimentId: string;
  dedupKey: string;
}

/** The channel and rules of this run, and its receiver when it has one. */
export interface Notifications {
  channel: notificationsV1.Channel;
  rule: notificationsV1.Rule;
  digest: notificationsV1.Rule;
  /** What the demo's own receiver got; undefined with LOTTY_DEMO_WEBHOOK_URL. */
  received?: Received[];
  /** Stops the receiver (idempotent). */
  close(): Promise<void>;
}

/** The demo's receiver: answers 204 to every POST on WEBHOOK_PATH and keeps what came. */
async function listen(port: number, received: Received[]): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "POST" || path !== WEBHOOK_PATH) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Partial<Received>;
        received.push({
          trigger: String(body.trigger ?? ""),
          experimentId: String(body.experimentId ?? ""),
          dedupKey: String(body.dedupKey ?? ""),
        });
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new DemoError(
              `port ${port} is taken, so the demo cannot receive its webhooks there: set ` +
                "LOTTY_DEMO_WEBHOOK_PORT to a free port, or LOTTY_DEMO_WEBHOOK_URL to your own receiver",
            )
          : error,
      ),
    );
    server.listen(port, "127.0.0.1", resolve);
  });
  return server;
}

async function listAll<T>(
  page: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>,
): Promise<T[]> {
  const all: T[] = [];
  let pageToken = "";
  do {
    const next = await page(pageToken);
    all.push(...next.items);
    pageToken = next.nextPageToken;
  } while (pageToken !== "");
  return all;
}

/**
 * Starts the receiver (unless `webhookUrl` is given) and finds or creates
 * the channel and the two rules, as the admin.
 */
export async function startNotifications(
  run: Run,
  webhookUrl: string | undefined,
  webhookPort: number,
): Promise<Notifications> {
  run.log("Notifications");
  const received: Received[] | undefined = webhookUrl === undefined ? [] : undefined;
  const server = received === undefined ? undefined : await listen(webhookPort, received);
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      if (server === undefined) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  try {
    const url = webhookUrl ?? `http://127.0.0.1:${webhookPort}${WEBHOOK_PATH}`;
    if (received !== undefined) run.log(`  the demo receives its webhooks on ${url} while it runs`);
    const n = run.admin.notifications;
    // A digest of the url, not the url: a receiver's url may carry a token.
    const name = `Stride demo webhook ${createHash("sha256").update(url).digest("hex").slice(0, 8)}`;
    const { value: channel } = await findOrCreate(
      run,
      `channel "${name}"`,
      async () =>
        (
          await listAll(async (pageToken) => {
            const p = await n.listChannels({ pageSize: 500, pageToken });
            return { items: p.channels, nextPageToken: p.nextPageToken };
          })
        ).find((c) => c.name === name),
      async () =>
        required(
          (await n.createChannel({ channel: { name, kind: ChannelKind.WEBHOOK, url } })).channel,
          "a channel",
        ),
    );
    const rules = await listAll(async (pageToken) => {
      const p = await n.listRules({ pageSize: 500, pageToken });
      return { items: p.rules, nextPageToken: p.nextPageToken };
    });
    const ensureRule = async (ruleName: string, rule: RuleInit) =>
      (
        await findOrCreate(
          run,
          `notification rule "${ruleName}"`,
          async () => rules.find((r) => r.name === ruleName && r.channelIds.includes(channel.id)),
          async () =>
            required(
              (await n.createRule({ rule: { ...rule, name: ruleName } })).rule,
              "a notification rule",
            ),
        )
      ).value;
    const rule = await ensureRule(`Stride demo alerts → ${name}`, {
      triggers: ALERT_TRIGGERS,
      channelIds: [channel.id],
    });
    const digest = await ensureRule(`Stride daily digest → ${name}`, {
      triggers: ["digest.daily"],
      channelIds: [channel.id],
      digest: { period: DigestPeriod.DAILY, hourUtc: DIGEST_HOUR_UTC, weekday: 0 },
    });
    return { channel, rule, digest, ...(received === undefined ? {} : { received }), close };
  } catch (error) {
    await close();
    throw error;
  }
}

const statusName = (status: notificationsV1.DeliveryStatus) =>
  `DELIVERY_STATUS_${DeliveryStatus[status] ?? status}`;

/** The demo's events since the rule was made: each must have its delivery before the run ends. */
function expected(
  summary: DemoSummary,
  since: number,
): { trigger: string; experimentId: string }[] {
  const after = (iso: string | undefined) => iso !== undefined && Date.parse(iso) >= since;
  const out: { trigger: string; experimentId: string }[] = [];
  if (after(summary.trigger?.triggeredAt)) {
    out.push({ trigger: "guardrail.triggered", experimentId: summary.experiments.B.id });
  }
  const safety = summary.ramps.I?.ramp?.safetyActions[0];
  if (after(safety?.at)) {
    out.push({ trigger: "ramp.safety_action", experimentId: summary.ramps.I.id });
  }
  const alarm = summary.dataQuality?.alarm;
  if (after(alarm?.firedAt)) {
    out.push({ trigger: "data_quality.srm", experimentId: alarm!.experimentId });
  }
  return out;
}

/**
 * Waits until the deliveries of the demo's events are queued and none is
 * waiting to be sent (up to DELIVERY_TIMEOUT_MS), stops the receiver and
 * records what was delivered.
 */
export async function finishNotifications(
  run: Run,
  notifications: Notifications,
  summary: DemoSummary,
): Promise<void> {
  const { channel, rule, digest } = notifications;
  const n = run.admin.notifications;
  const since = rule.createdAt === undefined ? 0 : timestampMs(rule.createdAt);
  const wanted = expected(summary, since);
  const list = async () =>
    (await n.listDeliveries({ channelId: channel.id, pageSize: 500 })).deliveries;
  const settled = async () => {
    const deliveries = await list();
    const waiting = deliveries.some(
      (d) => d.status === DeliveryStatus.PENDING || d.status === DeliveryStatus.RETRYING,
    );
    const missing = wanted.some(
      (w) => !deliveries.some((d) => d.trigger === w.trigger && d.experimentId === w.experimentId),
    );
    return waiting || missing ? undefined : deliveries;
  };
  const deliveries = (await poll(settled, DELIVERY_TIMEOUT_MS, 250)) ?? (await list());
  await notifications.close();
  const highlights: DeliveryHighlights[] = deliveries.map((d) => ({
    trigger: d.trigger,
    experimentId: d.experimentId,
    status: statusName(d.status),
    dedupKey: d.dedupKey,
    lastError: d.lastError,
  }));
  summary.notifications = {
    channelId: channel.id,
    channelName: channel.name,
    maskedUrl: channel.url,
    ownReceiver: notifications.received !== undefined,
    ruleId: rule.id,
    triggers: [...rule.triggers],
    digestRuleId: digest.id,
    digestHourUtc: digest.digest?.hourUtc ?? DIGEST_HOUR_UTC,
    deliveries: highlights,
    received: [...(notifications.received ?? [])],
  } satisfies NotificationHighlights;
  const sent = highlights.filter((d) => d.status === "DELIVERY_STATUS_SENT").length;
  run.log(
    `  ${channel.name}: ${highlights.length} deliver${highlights.length === 1 ? "y" : "ies"}, ` +
      `${sent} sent` +
      (notifications.received === undefined
        ? ""
        : `; the demo's receiver got ${notifications.received.length} in this run`),
  );
  for (const d of highlights.slice(0, 8)) {
    run.log(`    ${d.trigger} ${d.status}${d.lastError === "" ? "" : ` (${d.lastError})`}`);
  }
  if (highlights.some((d) => d.status !== "DELIVERY_STATUS_SENT")) {
    run.log("  not every delivery was sent: ListDeliveries shows why (last_error)");
  }
}
