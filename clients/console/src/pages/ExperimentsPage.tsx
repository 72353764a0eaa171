/**
 * The experiments list: status and owner filters go to the server, the
 * search box filters the loaded page in the browser. Every filter and the
 * page position are in the URL, so the view is a permalink.
 */
import { useMemo } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import {
  ExperimentService,
  ExperimentStatus,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { useUser } from "../api/session.js";
import { may, SERVICES } from "../api/permissions.js";
import { personLabel, STATUSES } from "../api/experiments.js";
import { enumLabel } from "../format/labels.js";
import { formatAgo, formatTime } from "../format/dates.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { Field } from "../components/Field.js";
import { PageNav } from "../components/Pager.js";
import { StatusBadge } from "../components/experiments/StatusBadge.js";
import { TableHead } from "../components/Table.js";

const PAGE_SIZE = 50;

/** "in_review" ↔ ExperimentStatus.IN_REVIEW, for readable URLs. */
function statusFromParam(text: string | null): ExperimentStatus {
  if (text === null) return ExperimentStatus.UNSPECIFIED;
  const value = (ExperimentStatus as unknown as Record<string, number>)[text.toUpperCase()];
  return typeof value === "number" ? value : ExperimentStatus.UNSPECIFIED;
}

function statusParam(status: ExperimentStatus): string {
  return (ExperimentStatus[status] ?? "").toLowerCase();
}

export function ExperimentsPage() {
  const { user } = useUser();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();

  const status = statusFromParam(params.get("status"));
  const mine = params.get("mine") === "1";
  const search = params.get("q") ?? "";
  const token = params.get("page") ?? "";
  const previous = params.getAll("prev");

  const list = useQuery(ExperimentService.method.listExperiments, {
    status,
    ownerId: mine ? user.id : undefined,
    pageSize: PAGE_SIZE,
    pageToken: token,
  });

  /** Changes one filter; a server-side filter change restarts paging. */
  function update(change: (p: URLSearchParams) => void, restartPaging: boolean) {
    const next = new URLSearchParams(params);
    change(next);
    if (restartPaging) {
      next.delete("page");
      next.delete("prev");
    }
    setParams(next, { replace: true });
  }

  function goNext(nextToken: string) {
    const next = new URLSearchParams(params);
    next.append("prev", token);
    next.set("page", nextToken);
    setParams(next);
  }

  function goPrevious() {
    const next = new URLSearchParams(params);
    const stack = [...previous];
    const back = stack.pop() ?? "";
    next.delete("prev");
    for (const t of stack) next.append("prev", t);
    if (back === "") next.delete("page");
    else next.set("page", back);
    setParams(next);
  }

  const rows = useMemo(() => {
    const all = list.data?.experiments ?? [];
    const needle = search.trim().toLowerCase();
    if (needle === "") return all;
    return all.filter(
      (e) =>
        e.name.toLowerCase().includes(needle) ||
        e.flagKey.toLowerCase().includes(needle) ||
        e.id.toLowerCase().startsWith(needle),
    );
  }, [list.data, search]);

  const loaded = list.data?.experiments.length ?? 0;
  const nextToken = list.data?.nextPageToken ?? "";
  const pageNumber = previous.length + 1;

  return (
    <>
      <h1>Experiments</h1>
      {may(user.roles, SERVICES.experiments, "CreateExperiment") && (
        <div className="actions">
          <button
            type="button"
            className="primary"
            onClick={() => void navigate("/experiments/new")}
          >
            New experiment
          </button>
        </div>
      )}
      <form
        className="toolbar"
        role="search"
        aria-label="Filter experiments"
        onSubmit={(e) => e.preventDefault()}
      >
        <Field
          label="Search"
          help="Filters the experiments on this page by name, flag or id (the server has no text search)."
        >
          <input
            type="search"
            value={search}
            onChange={(e) =>
              update(
                (p) => (e.target.value === "" ? p.delete("q") : p.set("q", e.target.value)),
                false,
              )
            }
          />
        </Field>
        <Field label="Status">
          <select
            value={statusParam(status)}
            onChange={(e) =>
              update(
                (p) =>
                  e.target.value === "unspecified"
                    ? p.delete("status")
                    : p.set("status", e.target.value),
                true,
              )
            }
          >
            <option value="unspecified">Any status</option>
            {STATUSES.map((s) => (
              <option key={s} value={statusParam(s)}>
                {enumLabel(ExperimentStatus, s)}
              </option>
            ))}
          </select>
        </Field>
        <div className="field exp-checkbox">
          <label>
            <input
              type="checkbox"
              checked={mine}
              onChange={(e) =>
                update((p) => (e.target.checked ? p.set("mine", "1") : p.delete("mine")), true)
              }
            />{" "}
            Only mine
          </label>
        </div>
      </form>

      {list.isPending && <Loading what="experiments" />}
      {list.isError && <ErrorMessage error={list.error} title="Could not load experiments" />}
      {list.isSuccess && (
        <>
          <p className="status" role="status" aria-live="polite">
            {search.trim() === ""
              ? `Page ${pageNumber}: ${loaded} experiment${loaded === 1 ? "" : "s"}.`
              : `Page ${pageNumber}: ${rows.length} of ${loaded} experiments match “${search.trim()}”.`}
          </p>
          {rows.length === 0 ? (
            <Empty>
              {loaded === 0
                ? "No experiments match these filters."
                : "No experiment on this page matches the search."}
            </Empty>
          ) : (
            <table>
              <caption className="visually-hidden">Experiments, newest first</caption>
              <TableHead columns={["Name", "Status", "Owner", "Flag", "Updated"]} />
              <tbody>
                {rows.map((e) => (
                  <tr key={e.id}>
                    <th scope="row" className="exp-name">
                      <Link to={`/experiments/${e.id}`}>{e.name}</Link>
                    </th>
                    <td>
                      <StatusBadge status={e.status} />
                    </td>
                    <td>
                      <span title={e.ownerId}>{personLabel(e.ownerId, user.id)}</span>
                    </td>
                    <td>
                      <code>{e.flagKey}</code>
                    </td>
                    <td>
                      <time title={formatTime(e.updatedAt)}>{formatAgo(e.updatedAt)}</time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <PageNav
        className="actions"
        label="Pages"
        hasPrevious={token !== ""}
        onPrevious={goPrevious}
        hasNext={nextToken !== ""}
        onNext={() => goNext(nextToken)}
      />
    </>
  );
}
