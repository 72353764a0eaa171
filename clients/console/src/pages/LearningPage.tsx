/**
 * One experiment's learning: everything it taught, read-only for everyone;
 * its owner or an admin edits the editable fields here. With links to the
 * report permalink and the experiment, the audit history and similar
 * experiments.
 */
import { useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { Code, ConnectError } from "@connectrpc/connect";
import { useQuery } from "@connectrpc/connect-query";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  Direction,
  GuardrailAction,
  type Guardrail,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { LearningService, type Learning } from "../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { useUser } from "../api/session.js";
import { personLabel } from "../api/experiments.js";
import { mayEditLearning, missingText, resultsPath } from "../api/learnings.js";
import { formatTime } from "../format/dates.js";
import { formatNumber } from "../format/numbers.js";
import { ErrorMessage, Loading } from "../components/Status.js";
import {
  EffectSummary,
  GuardrailBadge,
  NeedsWritingUpBadge,
  OutcomeBadge,
  TagList,
} from "../components/learnings/bits.js";
import { LearningEditForm } from "../components/learnings/LearningEditForm.js";
import { LearningHistory } from "../components/learnings/LearningHistory.js";
import { SimilarExperiments } from "../components/learnings/SimilarExperiments.js";

export default function LearningPage() {
  const { experimentId = "" } = useParams();
  const { user } = useUser();
  const query = useQuery(LearningService.method.getLearning, { experimentId });
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState<number | undefined>(undefined);
  const editButton = useRef<HTMLButtonElement>(null);

  if (query.isPending) return <Loading what="the learning" />;
  if (query.isError || query.data.learning === undefined) {
    const notFound = query.isError && ConnectError.from(query.error).code === Code.NotFound;
    return (
      <>
        <p className="exp-breadcrumb">
          <Link to="/learnings">Learnings</Link>
        </p>
        <h1>Learning</h1>
        {notFound ? (
          <p className="banner warn">
            This experiment has no learning: learnings are recorded when an experiment is completed.{" "}
            <Link to={`/experiments/${experimentId}`}>Open the experiment</Link>
          </p>
        ) : (
          <ErrorMessage
            error={query.error ?? new Error("The answer had no learning.")}
            title="Could not load the learning"
          />
        )}
      </>
    );
  }
  const l = query.data.learning;
  const mayEdit = mayEditLearning(user, l);

  function closeEditor() {
    setEditing(false);
    setTimeout(() => editButton.current?.focus(), 0);
  }

  return (
    <>
      <p className="exp-breadcrumb">
        <Link to="/learnings">Learnings</Link>
      </p>
      <h1>Learning: {l.experimentName}</h1>
      <div className="exp-summary">
        <OutcomeBadge outcome={l.outcome} />
        <GuardrailBadge fired={l.firedGuardrailMetricKeys} />
        <NeedsWritingUpBadge filled={l.filled} />
        <span>
          Flag <code>{l.flagKey}</code>
        </span>
        <span title={l.ownerId}>Owner {personLabel(l.ownerId, user.id)}</span>
        <span>Version {l.version}</span>
        <Link to={`/experiments/${l.experimentId}`}>Experiment</Link>
        <Link className="button primary" to={resultsPath(l)}>
          Final report
        </Link>
      </div>
      {!l.filled && <p className="banner warn">{missingText(l.missingFields)}</p>}
      {saved !== undefined && (
        <p className="banner good" role="status">
          {`Saved: this is version ${saved}.`}
        </p>
      )}
      {mayEdit && !editing && (
        <div className="actions">
          <button
            type="button"
            ref={editButton}
            onClick={() => {
              setSaved(undefined);
              setEditing(true);
            }}
          >
            Edit learning
          </button>
        </div>
      )}
      {editing && (
        <LearningEditForm
          key={l.version}
          learning={l}
          onSaved={(s) => {
            setSaved(s?.version);
            closeEditor();
          }}
          onCancel={closeEditor}
          onReload={() => void query.refetch()}
        />
      )}
      <LearningView learning={l} me={user.id} />
      <LearningHistory experimentId={l.experimentId} me={user.id} />
      <SimilarExperiments to={{ experimentId: l.experimentId }} />
    </>
  );
}

function Text(props: { text: string; empty?: string }) {
  if (props.text.trim() === "")
    return <span className="muted">{props.empty ?? "Not written yet."}</span>;
  return <span className="exp-prewrap">{props.text}</span>;
}

function List(props: { items: readonly string[] }) {
  if (props.items.length === 0) return <span className="muted">none listed</span>;
  return <>{props.items.join(", ")}</>;
}

function guardrailText(g: Guardrail): string {
  const op = g.direction === Direction.DECREASE_IS_BAD ? "<" : ">";
  const action = g.action === GuardrailAction.ROLLBACK ? "pause and roll back" : "pause";
  return `${g.metricKey} ${op} ${formatNumber(g.threshold)} → ${action}`;
}

const DAY = 86_400_000;

function actualDays(l: Learning): string | undefined {
  if (l.startedAt === undefined || l.completedAt === undefined) return undefined;
  const ms = timestampDate(l.completedAt).getTime() - timestampDate(l.startedAt).getTime();
  return ms < 0 ? undefined : formatNumber(ms / DAY, 1);
}

function LearningView(props: { learning: Learning; me: string }) {
  const l = props.learning;
  const e = l.primaryEffect;
  const actual = actualDays(l);
  return (
    <div className="grid-2 learn-view">
      <section aria-labelledby="learn-tested">
        <h2 id="learn-tested">What was tested</h2>
        <dl className="props">
          <dt>Hypothesis</dt>
          <dd>
            <Text text={l.hypothesis} />
          </dd>
          <dt>Audience</dt>
          <dd>
            {formatNumber(l.audiencePercent)} % of {l.targetingSummary || "everyone"}
            {l.targetingRule !== "" && (
              <>
                {" "}
                <code className="learn-rule">{l.targetingRule}</code>
              </>
            )}
          </dd>
          <dt>Variants</dt>
          <dd>
            {l.variantKeys
              .map((k, i) => {
                const w = l.variantWeights[i];
                return `${k}${i === 0 ? " (control)" : ""}${w === undefined ? "" : ` ${formatNumber(w)} %`}`;
              })
              .join(", ") || "—"}
          </dd>
          <dt>Primary metric</dt>
          <dd>
            <code>{l.primaryMetricKey || "—"}</code>
          </dd>
          <dt>Secondary metrics</dt>
          <dd>
            <List items={l.metricKeys} />
          </dd>
          <dt>Guardrails</dt>
          <dd>
            {l.guardrails.length === 0 ? (
              <span className="muted">none</span>
            ) : (
              <ul className="plain-list">
                {l.guardrails.map((g, i) => (
                  <li key={i}>{guardrailText(g)}</li>
                ))}
              </ul>
            )}
          </dd>
          <dt>Ran</dt>
          <dd>
            {formatTime(l.startedAt)} to {formatTime(l.completedAt)}
            {actual !== undefined && ` (${actual} days`}
            {actual !== undefined &&
              (l.plannedDays > 0 ? `; planned ${l.plannedDays} days)` : "; no plan stated)")}
          </dd>
          <dt>Platforms</dt>
          <dd>
            <List items={l.platforms} />
          </dd>
          <dt>Countries</dt>
          <dd>
            <List items={l.countries} />
          </dd>
          <dt>App versions</dt>
          <dd>
            <List items={l.versions} />
          </dd>
        </dl>
      </section>
      <section aria-labelledby="learn-found">
        <h2 id="learn-found">What was found</h2>
        <dl className="props">
          <dt>Outcome</dt>
          <dd>
            <OutcomeBadge outcome={l.outcome} />
            {l.winnerVariantKey !== "" && <> winner: {l.winnerVariantKey}</>}
          </dd>
          <dt>Justification</dt>
          <dd>
            <Text text={l.justification} empty="none given" />
          </dd>
          <dt>Primary effect</dt>
          <dd>
            <EffectSummary effect={e} />
            {e !== undefined && (
              <div className="muted">
                {e.controlVariantKey || "control"} {formatNumber(e.controlValue)} → {e.variantKey}{" "}
                {formatNumber(e.variantValue)}
              </div>
            )}
          </dd>
          <dt>Guardrails fired</dt>
          <dd>
            {l.firedGuardrailMetricKeys.length === 0 ? (
              "none"
            ) : (
              <GuardrailBadge fired={l.firedGuardrailMetricKeys} />
            )}
          </dd>
          <dt>Result</dt>
          <dd>
            <Text text={l.result} />
          </dd>
          <dt>Action</dt>
          <dd>
            <Text text={l.action} />
          </dd>
          <dt>Notes</dt>
          <dd data-testid="learning-notes">
            <Text text={l.notes} />
          </dd>
          <dt>Tags</dt>
          <dd>
            {l.tags.length === 0 ? (
              <span className="muted">none</span>
            ) : (
              <TagList tags={l.tags} label={`Tags of ${l.experimentName}`} />
            )}
          </dd>
          <dt>Links</dt>
          <dd>
            {l.links.length === 0 ? (
              <span className="muted">none</span>
            ) : (
              <ul className="plain-list">
                {l.links.map((k, i) => (
                  <li key={i}>
                    {/^https?:\/\//i.test(k.url) ? (
                      <a href={k.url} rel="noopener noreferrer">
                        {k.title || k.url}
                      </a>
                    ) : (
                      `${k.title} (${k.url})`
                    )}
                  </li>
                ))}
              </ul>
            )}
          </dd>
          <dt>Last edited</dt>
          <dd>
            {l.updatedBy === "" ? "never by a person" : formatTime(l.updatedAt)}
            {l.updatedBy !== "" && (
              <span title={l.updatedBy}> by {personLabel(l.updatedBy, props.me)}</span>
            )}
          </dd>
          <dt>Write-up</dt>
          <dd>{l.filled ? "written up" : <NeedsWritingUpBadge filled={false} />}</dd>
        </dl>
      </section>
    </div>
  );
}
