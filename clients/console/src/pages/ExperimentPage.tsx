/**
 * One experiment: its status, the actions the user may take now, its
 * autopilot ramp (when it has a ramp plan), and three tabs (configuration,
 * versions, history) whose choice is in the URL.
 */
import { Link, useParams, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import {
  ExperimentService,
  ExperimentStatus,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { useUser } from "../api/session.js";
import { hasResults, personLabel } from "../api/experiments.js";
import { formatAgo, formatTime } from "../format/dates.js";
import { ErrorMessage, Loading } from "../components/Status.js";
import { StatusBadge } from "../components/experiments/StatusBadge.js";
import { ExperimentActions } from "../components/experiments/ExperimentActions.js";
import { ConfigurationView } from "../components/experiments/ConfigurationView.js";
import { VersionsView } from "../components/experiments/VersionsView.js";
import { HistoryView } from "../components/experiments/HistoryView.js";
import { RampPanel } from "../components/experiments/RampPanel.js";
import { autopilotDrives, RAMP_REFRESH_MS } from "../components/experiments/ramp.js";
import { LearningLink } from "../components/learnings/LearningLink.js";
import { SimilarExperiments } from "../components/learnings/SimilarExperiments.js";

const TABS = [
  { key: "configuration", label: "Configuration" },
  { key: "versions", label: "Versions" },
  { key: "history", label: "History" },
] as const;

export default function ExperimentPage() {
  const { id = "" } = useParams();
  const { user } = useUser();
  const [params] = useSearchParams();
  const tab = TABS.find((t) => t.key === params.get("tab"))?.key ?? "configuration";
  // While the autopilot drives its ramp, the page follows it.
  const query = useQuery(
    ExperimentService.method.getExperiment,
    { id },
    {
      refetchInterval: (q) => (autopilotDrives(q.state.data?.experiment) ? RAMP_REFRESH_MS : false),
    },
  );

  if (query.isPending) return <Loading what="the experiment" />;
  if (query.isError) {
    return (
      <>
        <h1>Experiment</h1>
        <ErrorMessage error={query.error} title="Could not load the experiment" />
        <p>
          <Link to="/experiments">Back to experiments</Link>
        </p>
      </>
    );
  }
  const e = query.data.experiment;
  if (e === undefined) return <ErrorMessage error={new Error("The answer had no experiment.")} />;

  return (
    <>
      <p className="exp-breadcrumb">
        <Link to="/experiments">Experiments</Link>
      </p>
      <h1>{e.name}</h1>
      <div className="exp-summary">
        <StatusBadge status={e.status} />
        <span>
          Flag <code>{e.flagKey}</code>
        </span>
        <span>Version {e.version}</span>
        <span title={e.ownerId}>Owner {personLabel(e.ownerId, user.id)}</span>
        <span>
          Updated <time title={formatTime(e.updatedAt)}>{formatAgo(e.updatedAt)}</time>
        </span>
        {hasResults(e.status) && (
          <Link className="button primary" to={`/experiments/${e.id}/results`}>
            View results
          </Link>
        )}
        {(e.status === ExperimentStatus.COMPLETED || e.status === ExperimentStatus.ARCHIVED) && (
          <LearningLink experimentId={e.id} />
        )}
      </div>
      {e.rolledBack && (
        <p className="banner bad">
          Rolled back by a guardrail: every subject gets the control variant&apos;s value until the
          experiment is resumed or completed.
        </p>
      )}
      {e.status === ExperimentStatus.PAUSED && !e.rolledBack && (
        <p className="banner warn">
          Paused: Decide answers the flag&apos;s default. See the history for who or what paused it.
        </p>
      )}
      {e.status === ExperimentStatus.IN_REVIEW && (
        <p className="banner warn">
          In review: {e.approvals.length} of {e.requiredApprovals} required approval
          {e.requiredApprovals === 1 ? "" : "s"}.
        </p>
      )}

      <ExperimentActions experiment={e} user={user} />
      {(e.rampPlan?.steps.length ?? 0) > 0 && <RampPanel experiment={e} user={user} />}

      <nav className="tabs" aria-label="Experiment sections">
        {TABS.map((t) => (
          <Link
            key={t.key}
            to={
              t.key === "configuration"
                ? `/experiments/${e.id}`
                : `/experiments/${e.id}?tab=${t.key}`
            }
            aria-current={t.key === tab ? "page" : undefined}
          >
            {t.label}
          </Link>
        ))}
      </nav>
      {tab === "configuration" && <ConfigurationView experiment={e} me={user.id} />}
      {tab === "versions" && <VersionsView id={e.id} me={user.id} />}
      {tab === "history" && <HistoryView id={e.id} me={user.id} />}
      <SimilarExperiments to={{ experimentId: e.id }} />
    </>
  );
}
