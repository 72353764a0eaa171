/**
 * /notifications: the delivery log, and the channels and rules behind it
 * (read-only). Only experimenters and admins may list them; other roles get
 * a sentence instead of a call that would be denied.
 */
import { useMemo } from "react";
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import {
  ChannelKind,
  DeliveryStatus,
  NotificationService,
  type Delivery,
} from "../../../../gen/lotty/notifications/v1/notifications_pb.js";
import { useUser } from "../api/session.js";
import { may, SERVICES } from "../api/permissions.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { Pager, usePager } from "../components/Pager.js";
import { formatTime } from "../format/dates.js";
import { enumLabel } from "../format/labels.js";
import { TableHead } from "../components/Table.js";

const STATUS_BADGE: Record<number, string> = {
  [DeliveryStatus.SENT]: "badge good",
  [DeliveryStatus.FAILED]: "badge bad",
  [DeliveryStatus.RETRYING]: "badge warn",
  [DeliveryStatus.RATE_LIMITED]: "badge warn",
};

export default function DeliveriesPage() {
  const { user } = useUser();
  const allowed = may(user.roles, SERVICES.notifications, "ListDeliveries");
  return (
    <>
      <h1>Notifications</h1>
      {allowed ? (
        <NotificationLists />
      ) : (
        <p className="banner">
          Notification channels, rules and deliveries are visible to experimenters and admins only,
          because channel addresses can carry secrets.
        </p>
      )}
    </>
  );
}

function NotificationLists() {
  const channels = useQuery(NotificationService.method.listChannels, { pageSize: 500 });
  const rules = useQuery(NotificationService.method.listRules, { pageSize: 500 });
  const channelNames = useMemo(
    () => new Map((channels.data?.channels ?? []).map((c) => [c.id, c.name] as const)),
    [channels.data],
  );
  const ruleNames = useMemo(
    () => new Map((rules.data?.rules ?? []).map((r) => [r.id, r.name] as const)),
    [rules.data],
  );

  return (
    <>
      <section aria-labelledby="deliveries-heading">
        <h2 id="deliveries-heading">Deliveries</h2>
        <Deliveries channelNames={channelNames} ruleNames={ruleNames} />
      </section>
      <section aria-labelledby="channels-heading">
        <h2 id="channels-heading">Channels</h2>
        {channels.isPending ? (
          <Loading what="channels" />
        ) : channels.isError ? (
          <ErrorMessage error={channels.error} title="Channels could not be loaded" />
        ) : channels.data.channels.length === 0 ? (
          <Empty>No channels yet. Channels are created through the NotificationService API.</Empty>
        ) : (
          <table>
            <TableHead columns={["Name", "Kind", "Address", "Signed", "Created"]} />
            <tbody>
              {channels.data.channels.map((c) => (
                <tr key={c.id}>
                  <td>{c.name}</td>
                  <td>{enumLabel(ChannelKind, c.kind)}</td>
                  <td>
                    <code>{c.url}</code>
                    {c.chatId !== "" && <div className="help">chat {c.chatId}</div>}
                  </td>
                  <td>{c.hasSecret ? "Yes (HMAC secret set)" : "No"}</td>
                  <td>{formatTime(c.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="rules-heading">
        <h2 id="rules-heading">Rules</h2>
        {rules.isPending ? (
          <Loading what="rules" />
        ) : rules.isError ? (
          <ErrorMessage error={rules.error} title="Rules could not be loaded" />
        ) : rules.data.rules.length === 0 ? (
          <Empty>
            No rules yet, so nothing is sent. Rules are created through the NotificationService API.
          </Empty>
        ) : (
          <table>
            <TableHead
              columns={[
                "Name",
                "Triggers",
                "Applies to",
                "Channels",
                { label: "Rate limit per minute", num: true },
                "Created",
              ]}
            />
            <tbody>
              {rules.data.rules.map((r) => {
                const filters = [
                  r.experimentId !== "" ? `experiment ${r.experimentId}` : "",
                  r.flagKey !== "" ? `flag ${r.flagKey}` : "",
                  r.ownerId !== "" ? `owner ${r.ownerId}` : "",
                ].filter(Boolean);
                return (
                  <tr key={r.id}>
                    <td>{r.name}</td>
                    <td>
                      {r.triggers.map((t) => (
                        <code key={t} className="badge">
                          {t}
                        </code>
                      ))}
                    </td>
                    <td>{filters.length === 0 ? "Every experiment" : filters.join(" and ")}</td>
                    <td>{r.channelIds.map((id) => channelNames.get(id) ?? id).join(", ")}</td>
                    <td className="num">
                      {r.rateLimitPerMinute === 0 ? 60 : r.rateLimitPerMinute}
                    </td>
                    <td>{formatTime(r.createdAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function Deliveries(props: {
  channelNames: ReadonlyMap<string, string>;
  ruleNames: ReadonlyMap<string, string>;
}) {
  const pager = usePager();
  const list = useQuery(NotificationService.method.listDeliveries, {
    pageSize: 50,
    pageToken: pager.token,
  });
  if (list.isPending) return <Loading what="deliveries" />;
  if (list.isError)
    return <ErrorMessage error={list.error} title="Deliveries could not be loaded" />;
  if (list.data.deliveries.length === 0) {
    return (
      <Empty>
        No notifications have been sent yet. Deliveries appear here when a rule matches an event.
      </Empty>
    );
  }
  return (
    <>
      <DeliveriesTable
        deliveries={list.data.deliveries}
        channelNames={props.channelNames}
        ruleNames={props.ruleNames}
      />
      <Pager pager={pager} nextToken={list.data.nextPageToken} label="Deliveries" />
    </>
  );
}

export function DeliveriesTable(props: {
  deliveries: Delivery[];
  channelNames: ReadonlyMap<string, string>;
  ruleNames: ReadonlyMap<string, string>;
}) {
  return (
    <table>
      <caption className="visually-hidden">Notification deliveries, newest first</caption>
      <TableHead
        columns={[
          "Queued",
          "Trigger",
          "Experiment",
          "Channel",
          "Status",
          { label: "Attempts", num: true },
          "Last error",
          "Sent or next attempt",
        ]}
      />
      <tbody>
        {props.deliveries.map((d) => (
          <tr key={d.id}>
            <td>
              {formatTime(d.createdAt)}
              <div className="help">event at {formatTime(d.occurredAt)}</div>
            </td>
            <td>
              <code>{d.trigger}</code>
              {d.ruleId !== "" && (
                <div className="help">rule {props.ruleNames.get(d.ruleId) ?? d.ruleId}</div>
              )}
            </td>
            <td>
              {d.experimentId !== "" ? (
                <Link to={`/experiments/${d.experimentId}`}>{d.experimentId.slice(0, 8)}</Link>
              ) : (
                "—"
              )}
              {d.flagKey !== "" && <div className="help">flag {d.flagKey}</div>}
            </td>
            <td>{props.channelNames.get(d.channelId) ?? d.channelId}</td>
            <td>
              <span className={STATUS_BADGE[d.status] ?? "badge"}>
                {enumLabel(DeliveryStatus, d.status)}
              </span>
            </td>
            <td className="num">{d.attempts} of 8</td>
            <td>{d.lastError !== "" ? d.lastError : <span className="muted">None</span>}</td>
            <td>
              {d.status === DeliveryStatus.SENT
                ? `sent ${formatTime(d.sentAt)}`
                : d.status === DeliveryStatus.RETRYING
                  ? `next try ${formatTime(d.nextAttemptAt)}`
                  : "—"}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
