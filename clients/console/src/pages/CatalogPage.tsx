/** /catalog: the event types clients send and the metrics computed from them. */
import { useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import {
  CatalogService,
  MetricKind,
  PropertyType,
} from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { useUser } from "../api/session.js";
import { may, SERVICES } from "../api/permissions.js";
import { describeMetric } from "../api/catalog.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { Pager, usePager } from "../components/Pager.js";
import { formatTime } from "../format/dates.js";
import { enumLabel } from "../format/labels.js";
import { TableHead } from "../components/Table.js";

export default function CatalogPage() {
  const { user } = useUser();
  const [includeArchived, setIncludeArchived] = useState(false);
  return (
    <>
      <h1>Catalog</h1>
      <p className="help">
        Event types are what clients send to Lotty; metrics turn those events into one number per
        variant.
      </p>
      <div className="toolbar">
        <label className="checkbox">
          <input
            type="checkbox"
            checked={includeArchived}
            onChange={(e) => setIncludeArchived(e.target.checked)}
          />{" "}
          Show archived
        </label>
      </div>
      <EventTypesSection
        key={`e${includeArchived}`}
        includeArchived={includeArchived}
        canCreate={may(user.roles, SERVICES.catalog, "CreateEventType")}
      />
      <MetricsSection
        key={`m${includeArchived}`}
        includeArchived={includeArchived}
        canCreate={may(user.roles, SERVICES.catalog, "CreateMetric")}
      />
    </>
  );
}

function StateBadges(props: { builtin: boolean; archived: boolean }) {
  return (
    <>
      {props.builtin && <span className="badge">built-in</span>}{" "}
      {props.archived && <span className="badge warn">archived</span>}
    </>
  );
}

function EventTypesSection(props: { includeArchived: boolean; canCreate: boolean }) {
  const pager = usePager();
  const list = useQuery(CatalogService.method.listEventTypes, {
    pageSize: 100,
    pageToken: pager.token,
    includeArchived: props.includeArchived,
  });
  return (
    <section aria-labelledby="event-types-heading">
      <div className="section-head">
        <h2 id="event-types-heading">Event types</h2>
        {props.canCreate && (
          <Link className="button primary" to="/catalog/event-types/new">
            New event type
          </Link>
        )}
      </div>
      {list.isPending ? (
        <Loading what="event types" />
      ) : list.isError ? (
        <ErrorMessage error={list.error} title="Event types could not be loaded" />
      ) : list.data.eventTypes.length === 0 ? (
        <Empty>No event types yet.</Empty>
      ) : (
        <>
          <table>
            <TableHead columns={["Key", "Name", "Properties", "Requires exposure", "Updated"]} />
            <tbody>
              {list.data.eventTypes.map((e) => (
                <tr key={e.key}>
                  <td>
                    <Link to={`/catalog/event-types/${encodeURIComponent(e.key)}`}>
                      <code>{e.key}</code>
                    </Link>{" "}
                    <StateBadges builtin={e.builtin} archived={e.archived} />
                  </td>
                  <td>
                    {e.name}
                    {e.description !== "" && <div className="help">{e.description}</div>}
                  </td>
                  <td>
                    {e.properties.length === 0 ? (
                      <span className="muted">None declared</span>
                    ) : (
                      <ul className="plain-list">
                        {e.properties.map((p) => (
                          <li key={p.name}>
                            <code>{p.name}</code> ({enumLabel(PropertyType, p.type)},{" "}
                            {p.required ? "required" : "optional"})
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>{e.requiresExposure ? "Yes" : "No"}</td>
                  <td>{formatTime(e.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pager={pager} nextToken={list.data.nextPageToken} label="Event types" />
        </>
      )}
    </section>
  );
}

function MetricsSection(props: { includeArchived: boolean; canCreate: boolean }) {
  const pager = usePager();
  const list = useQuery(CatalogService.method.listMetrics, {
    pageSize: 100,
    pageToken: pager.token,
    includeArchived: props.includeArchived,
  });
  return (
    <section aria-labelledby="metrics-heading">
      <div className="section-head">
        <h2 id="metrics-heading">Metrics</h2>
        {props.canCreate && (
          <Link className="button primary" to="/catalog/metrics/new">
            New metric
          </Link>
        )}
      </div>
      {list.isPending ? (
        <Loading what="metrics" />
      ) : list.isError ? (
        <ErrorMessage error={list.error} title="Metrics could not be loaded" />
      ) : list.data.metrics.length === 0 ? (
        <Empty>No metrics yet.</Empty>
      ) : (
        <>
          <table>
            <TableHead
              columns={["Key", "Name", "Kind", "Definition", "Requires exposure", "Updated"]}
            />
            <tbody>
              {list.data.metrics.map((m) => (
                <tr key={m.key}>
                  <td>
                    <Link to={`/catalog/metrics/${encodeURIComponent(m.key)}`}>
                      <code>{m.key}</code>
                    </Link>{" "}
                    <StateBadges builtin={m.builtin} archived={m.archived} />
                  </td>
                  <td>
                    {m.name}
                    {m.description !== "" && <div className="help">{m.description}</div>}
                  </td>
                  <td>{enumLabel(MetricKind, m.kind)}</td>
                  <td>{describeMetric(m)}</td>
                  <td>{m.requiresExposure ? "Yes" : "No"}</td>
                  <td>{formatTime(m.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pager={pager} nextToken={list.data.nextPageToken} label="Metrics" />
        </>
      )}
    </section>
  );
}
