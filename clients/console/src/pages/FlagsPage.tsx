/** /flags: every flag with its type, default value and the experiment running on it. */
import { useMemo, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { FlagService, FlagType } from "../../../../gen/lotty/flags/v1/flags_pb.js";
import {
  ExperimentService,
  ExperimentStatus,
  type Experiment,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { useUser } from "../api/session.js";
import { may, SERVICES } from "../api/permissions.js";
import { valueSummary } from "../api/catalog.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { formatTime } from "../format/dates.js";
import { enumLabel } from "../format/labels.js";
import { Pager, usePager } from "../components/Pager.js";
import { TableHead } from "../components/Table.js";

export default function FlagsPage() {
  const { user } = useUser();
  const canCreate = may(user.roles, SERVICES.flags, "CreateFlag");
  const [includeArchived, setIncludeArchived] = useState(false);
  const pager = usePager();
  const flags = useQuery(FlagService.method.listFlags, {
    pageSize: 50,
    pageToken: pager.token,
    includeArchived,
  });
  // One call for every running experiment, mapped by flag key (at most one runs per flag).
  const running = useQuery(ExperimentService.method.listExperiments, {
    status: ExperimentStatus.RUNNING,
    pageSize: 500,
  });
  const runningByFlag = useMemo(() => {
    const map = new Map<string, Experiment>();
    for (const e of running.data?.experiments ?? []) map.set(e.flagKey, e);
    return map;
  }, [running.data]);

  return (
    <>
      <h1>Flags</h1>
      <div className="toolbar">
        {canCreate && (
          <Link className="button primary" to="/flags/new">
            New flag
          </Link>
        )}
        <label className="checkbox">
          <input
            type="checkbox"
            checked={includeArchived}
            onChange={(e) => {
              setIncludeArchived(e.target.checked);
              pager.reset();
            }}
          />{" "}
          Show archived flags
        </label>
      </div>
      {running.isError && (
        <ErrorMessage error={running.error} title="Running experiments could not be loaded" />
      )}
      {flags.isPending ? (
        <Loading what="flags" />
      ) : flags.isError ? (
        <ErrorMessage error={flags.error} title="Flags could not be loaded" />
      ) : flags.data.flags.length === 0 ? (
        <Empty>
          No flags yet.
          {canCreate ? " Create one with “New flag”." : " An experimenter or admin can create one."}
        </Empty>
      ) : (
        <>
          <table>
            <caption className="visually-hidden">Feature flags, ordered by key</caption>
            <TableHead
              columns={[
                "Key",
                "Description",
                "Type",
                "Default value",
                "Running experiment",
                "Updated",
              ]}
            />
            <tbody>
              {flags.data.flags.map((flag) => {
                const experiment = runningByFlag.get(flag.key);
                return (
                  <tr key={flag.key}>
                    <td>
                      <Link to={`/flags/${encodeURIComponent(flag.key)}`}>
                        <code>{flag.key}</code>
                      </Link>
                      {flag.archived && <span className="badge"> archived</span>}
                      {flag.tags.length > 0 && (
                        <div className="tags">
                          {flag.tags.map((t) => (
                            <span key={t} className="badge tag">
                              {t}
                            </span>
                          ))}
                        </div>
                      )}
                    </td>
                    <td>{flag.description || <span className="muted">No description</span>}</td>
                    <td>{enumLabel(FlagType, flag.type)}</td>
                    <td>
                      <code>{valueSummary(flag.defaultValue)}</code>
                    </td>
                    <td>
                      {experiment !== undefined ? (
                        <Link to={`/experiments/${experiment.id}`}>{experiment.name}</Link>
                      ) : running.isPending ? (
                        "…"
                      ) : (
                        <span className="muted">None</span>
                      )}
                    </td>
                    <td>{formatTime(flag.updatedAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <Pager pager={pager} nextToken={flags.data.nextPageToken} label="Flags" />
        </>
      )}
    </>
  );
}
