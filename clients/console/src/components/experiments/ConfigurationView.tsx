/** Everything an experiment is configured with, read-only. */
import {
  Direction,
  GuardrailAction,
  Outcome,
  type Experiment,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { Link } from "react-router";
import { enumLabel } from "../../format/labels.js";
import { formatTime } from "../../format/dates.js";
import { personLabel } from "../../api/experiments.js";
import { Empty } from "../Status.js";
import { valueText } from "./values.js";
import { TableHead } from "../Table.js";

export function ConfigurationView(props: { experiment: Experiment; me: string }) {
  const e = props.experiment;
  return (
    <section aria-labelledby="exp-config-heading">
      <h2 id="exp-config-heading">Configuration</h2>
      <div className="grid-2">
        <div className="panel">
          <h3>Overview</h3>
          <dl className="props">
            <dt>Flag</dt>
            <dd>
              <code>{e.flagKey}</code>
            </dd>
            <dt>Owner</dt>
            <dd title={e.ownerId}>{personLabel(e.ownerId, props.me)}</dd>
            <dt>Version</dt>
            <dd>{e.version}</dd>
            <dt>Audience</dt>
            <dd>{e.audiencePercent} % of subjects</dd>
            <dt>Priority</dt>
            <dd>{e.priority}</dd>
            <dt>Conflict domains</dt>
            <dd>{e.conflictDomains.length === 0 ? "none" : e.conflictDomains.join(", ")}</dd>
            <dt>Created</dt>
            <dd>{formatTime(e.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>{formatTime(e.updatedAt)}</dd>
            <dt>Started</dt>
            <dd>{formatTime(e.startedAt)}</dd>
            <dt>Completed</dt>
            <dd>{formatTime(e.completedAt)}</dd>
          </dl>
        </div>
        <div className="panel">
          <h3>Hypothesis</h3>
          {e.description === "" ? (
            <Empty>No description.</Empty>
          ) : (
            <p className="exp-prewrap">{e.description}</p>
          )}
          <h3>Targeting rule</h3>
          {e.targetingRule === "" ? <p>Every subject (no rule).</p> : <pre>{e.targetingRule}</pre>}
          {e.savedSegments.length > 0 && (
            <>
              <p>
                Saved segments compiled into this version:{" "}
                {e.savedSegments.map((s, i) => (
                  <span key={s.key}>
                    {i > 0 && ", "}
                    <Link to={`/saved-segments/${encodeURIComponent(s.key)}`}>
                      <code>{s.key}</code>
                    </Link>{" "}
                    version {s.version}
                  </span>
                ))}
                . Later edits of a segment reach this experiment only when it is edited again.
              </p>
              <h3>Rule as decide evaluates it</h3>
              <pre data-testid="compiled-rule">{e.compiledTargetingRule}</pre>
            </>
          )}
        </div>
      </div>

      <h3>Variants</h3>
      <table>
        <TableHead columns={["Key", "Value", { label: "Weight", num: true }, "Role"]} />
        <tbody>
          {e.variants.map((v) => (
            <tr key={v.key}>
              <th scope="row">
                <code>{v.key}</code>
              </th>
              <td>
                <code>{valueText(v.value)}</code>
              </td>
              <td className="num">{v.weight} %</td>
              <td>{v.control ? "control" : "treatment"}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>Metrics</h3>
      <dl className="props">
        <dt>Primary</dt>
        <dd>
          <code>{e.primaryMetricKey || "—"}</code>
        </dd>
        <dt>Secondary</dt>
        <dd>
          {e.metricKeys.length === 0
            ? "none"
            : e.metricKeys.map((k, i) => (
                <span key={k}>
                  {i > 0 && ", "}
                  <code>{k}</code>
                </span>
              ))}
        </dd>
      </dl>

      <h3>Guardrails</h3>
      {e.guardrails.length === 0 ? (
        <Empty>No guardrails.</Empty>
      ) : (
        <table>
          <TableHead
            columns={[
              "Metric",
              { label: "Threshold", num: true },
              "Direction",
              "Action",
              { label: "Window", num: true },
              { label: "Minimum sample", num: true },
            ]}
          />
          <tbody>
            {e.guardrails.map((g, i) => (
              <tr key={i}>
                <th scope="row">
                  <code>{g.metricKey}</code>
                </th>
                <td className="num">{g.threshold}</td>
                <td>{enumLabel(Direction, g.direction)}</td>
                <td>{enumLabel(GuardrailAction, g.action)}</td>
                <td className="num">{g.windowSeconds === 0 ? 600 : g.windowSeconds} s</td>
                <td className="num">{g.minSampleSize}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Review</h3>
      <p>
        {e.requiredApprovals === 0
          ? "Not submitted for review yet."
          : `${e.approvals.length} of ${e.requiredApprovals} required approval${e.requiredApprovals === 1 ? "" : "s"} in this review round.`}
      </p>
      {e.approvals.length > 0 && (
        <ul>
          {e.approvals.map((a) => (
            <li key={a.approverId}>
              Approved by <span title={a.approverId}>{personLabel(a.approverId, props.me)}</span> on
              version {a.version}, {formatTime(a.approvedAt)}
              {a.comment !== "" && <>: “{a.comment}”</>}
            </li>
          ))}
        </ul>
      )}

      {e.outcome !== Outcome.UNSPECIFIED && (
        <>
          <h3>Outcome</h3>
          <dl className="props">
            <dt>Decision</dt>
            <dd>{enumLabel(Outcome, e.outcome)}</dd>
            {e.winnerVariantKey !== "" && (
              <>
                <dt>Winner</dt>
                <dd>
                  <code>{e.winnerVariantKey}</code>
                </dd>
              </>
            )}
            <dt>Justification</dt>
            <dd className="exp-prewrap">{e.justification}</dd>
          </dl>
        </>
      )}
    </section>
  );
}
