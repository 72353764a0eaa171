/**
 * /saved-segments: the saved segments (docs/saved-segments.md), named
 * audiences defined by a targeting rule, with their rule, version and the
 * experiments using them.
 */
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { CatalogService } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { useUser } from "../api/session.js";
import { may, SERVICES } from "../api/permissions.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { Pager, usePager } from "../components/Pager.js";
import { TableHead } from "../components/Table.js";
import { formatTime } from "../format/dates.js";

export default function SavedSegmentsPage() {
  const { user } = useUser();
  const canCreate = may(user.roles, SERVICES.catalog, "CreateSavedSegment");
  const pager = usePager();
  const list = useQuery(CatalogService.method.listSavedSegments, {
    pageSize: 50,
    pageToken: pager.token,
  });
  return (
    <>
      <h1>Saved segments</h1>
      <p className="help">
        A saved segment is a named audience defined by a targeting rule. Use it in an
        experiment&apos;s targeting rule as <code>segment(&quot;key&quot;)</code>, or filter a
        report by it on the results page.
      </p>
      {canCreate && (
        <div className="toolbar">
          <Link className="button primary" to="/saved-segments/new">
            New saved segment
          </Link>
        </div>
      )}
      {list.isPending ? (
        <Loading what="saved segments" />
      ) : list.isError ? (
        <ErrorMessage error={list.error} title="Saved segments could not be loaded" />
      ) : list.data.savedSegments.length === 0 ? (
        <Empty>
          No saved segments yet.
          {canCreate
            ? " Create one with “New saved segment”."
            : " An experimenter or admin can create one."}
        </Empty>
      ) : (
        <>
          <table>
            <caption className="visually-hidden">Saved segments, ordered by key</caption>
            <TableHead columns={["Key", "Name", "Rule", "Version", "Used by", "Updated"]} />
            <tbody>
              {list.data.savedSegments.map((s) => (
                <tr key={s.key}>
                  <td>
                    <Link to={`/saved-segments/${encodeURIComponent(s.key)}`}>
                      <code>{s.key}</code>
                    </Link>
                  </td>
                  <td>{s.displayName}</td>
                  <td>
                    <code>{s.rule}</code>
                  </td>
                  <td>{s.version}</td>
                  <td>
                    {s.usedBy.length === 0 ? (
                      <span className="muted">None</span>
                    ) : (
                      <ul className="plain-list">
                        {s.usedBy.map((u) => (
                          <li key={u.experimentId}>
                            <Link to={`/experiments/${u.experimentId}`}>{u.experimentName}</Link>{" "}
                            <span className="muted">({u.status})</span>
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>{formatTime(s.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pager={pager} nextToken={list.data.nextPageToken} label="Saved segments" />
        </>
      )}
    </>
  );
}
