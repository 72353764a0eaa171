/**
 * /data-quality: data-quality alarms that fired (volume drops and spikes
 * per event type, rejected share, sample ratio mismatches, attribution
 * backlog), newest first, with the figures behind each. Every role that
 * reads reports may see them.
 */
import { useMemo, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import {
  NotificationService,
  type DataQualityAlarm,
} from "../../../../gen/lotty/notifications/v1/notifications_pb.js";
import { ExperimentService } from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { useUser } from "../api/session.js";
import { may, SERVICES } from "../api/permissions.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { Pager, usePager } from "../components/Pager.js";
import { TableHead } from "../components/Table.js";
import { formatTime } from "../format/dates.js";

/** The alarm kinds and how they read. */
export const ALARM_KINDS: Readonly<Record<string, string>> = {
  "data_quality.volume_drop": "Volume drop",
  "data_quality.volume_spike": "Volume spike",
  "data_quality.rejected_share": "Rejected share",
  "data_quality.srm": "Sample ratio mismatch",
  "data_quality.attribution_backlog": "Attribution backlog",
};

/** Figure names as shown, in this order; others follow by name. */
const FIGURE_LABELS: Readonly<Record<string, string>> = {
  observed: "events this hour",
  median: "baseline median",
  mad: "MAD",
  robust_z: "robust z",
  change: "change",
  history_days: "days of history",
  rejected_share: "rejected share",
  rejected: "rejected",
  received: "received",
  bound: "bound",
  p_value: "p-value",
  chi_square: "chi-square",
  exposures: "exposures",
  pending: "pending",
  pending_hour_ago: "pending an hour earlier",
};

const SHARES = new Set(["change", "rejected_share"]);

export function formatFigure(name: string, value: number, kind = ""): string {
  if (SHARES.has(name) || (name === "bound" && kind === "data_quality.rejected_share")) {
    return `${(value * 100).toFixed(1)} %`;
  }
  if (name === "p_value") return value.toPrecision(2);
  return Number.isInteger(value)
    ? value.toLocaleString("en-US")
    : value.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

export default function DataQualityPage() {
  const { user } = useUser();
  const allowed = may(user.roles, SERVICES.notifications, "ListDataQualityAlarms");
  const [kind, setKind] = useState("");
  return (
    <>
      <h1>Data quality</h1>
      <p className="help">
        Every minute Lotty compares each event type&apos;s volume in the last complete hour with the
        same hour of the previous days, and checks the share of rejected events, the events waiting
        for attribution and each running experiment&apos;s sample ratio. Alarms are listed here and
        sent to the notification rules that select their triggers.
      </p>
      {allowed ? (
        <>
          <div className="filters">
            <label htmlFor="alarm-kind">Kind</label>
            <select id="alarm-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="">All kinds</option>
              {Object.entries(ALARM_KINDS).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <Alarms key={kind} kind={kind} />
        </>
      ) : (
        <p className="banner">Data-quality alarms are visible to roles that read reports.</p>
      )}
    </>
  );
}

function Alarms(props: { kind: string }) {
  const pager = usePager();
  const alarms = useQuery(NotificationService.method.listDataQualityAlarms, {
    ...(props.kind === "" ? {} : { kind: props.kind }),
    pageSize: 50,
    pageToken: pager.token,
  });
  const experiments = useQuery(ExperimentService.method.listExperiments, { pageSize: 500 });
  const names = useMemo(
    () => new Map((experiments.data?.experiments ?? []).map((e) => [e.id, e.name] as const)),
    [experiments.data],
  );
  if (alarms.isPending) return <Loading what="data-quality alarms" />;
  if (alarms.isError) {
    return <ErrorMessage error={alarms.error} title="Data-quality alarms could not be loaded" />;
  }
  if (alarms.data.alarms.length === 0) {
    return (
      <Empty>No data-quality alarm has fired{props.kind !== "" ? " of this kind" : ""}.</Empty>
    );
  }
  return (
    <>
      <AlarmsTable alarms={alarms.data.alarms} names={names} />
      <Pager pager={pager} nextToken={alarms.data.nextPageToken} label="Data-quality alarms" />
    </>
  );
}

export function AlarmsTable(props: {
  alarms: DataQualityAlarm[];
  names: ReadonlyMap<string, string>;
}) {
  return (
    <table>
      <caption className="visually-hidden">Data-quality alarms, newest first</caption>
      <TableHead columns={["Fired", "Alarm", "About", "Window", "Figures"]} />
      <tbody>
        {props.alarms.map((a) => (
          <tr key={a.id}>
            <td>{formatTime(a.firedAt)}</td>
            <td>
              <strong>{ALARM_KINDS[a.kind] ?? a.kind}</strong>
              <div className="help">{a.summary}</div>
            </td>
            <td>
              {a.experimentId !== "" ? (
                <Link to={`/experiments/${a.experimentId}/results`}>
                  {props.names.get(a.experimentId) ?? a.experimentId}
                </Link>
              ) : a.subject === "all" ? (
                "All events"
              ) : (
                <>
                  event type <code>{a.subject}</code>
                </>
              )}
            </td>
            <td>
              {formatTime(a.windowStart)} – {formatTime(a.windowEnd)}
            </td>
            <td>
              <dl className="figures">
                {figureEntries(a.figures).map(([name, value]) => (
                  <div key={name}>
                    <dt>{FIGURE_LABELS[name] ?? name}</dt>
                    <dd>{formatFigure(name, value, a.kind)}</dd>
                  </div>
                ))}
              </dl>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function figureEntries(figures: Record<string, number>): [string, number][] {
  const order = Object.keys(FIGURE_LABELS);
  const rank = (name: string) => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  return Object.entries(figures).sort(
    ([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0),
  );
}
