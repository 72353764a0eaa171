/**
 * "Similar experiments": completed experiments that resemble a stored one
 * (by id) or a draft being written (its fields), most similar first, each
 * with the reasons it matched and their weights, its outcome and effect.
 * Errors are shown as text, not as an alert: the panel is an aside of the
 * page it sits on, whose own errors matter more.
 */
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ExperimentSchema } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { LearningService } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { describeError } from "../../api/errors.js";
import { reasonLabel, resultsPath } from "../../api/learnings.js";
import { formatNumber, formatPercent } from "../../format/numbers.js";
import { formatTime } from "../../format/dates.js";
import { Empty, Loading } from "../Status.js";
import { EffectSummary, GuardrailBadge, NeedsWritingUpBadge, OutcomeBadge } from "./bits.js";

const LIMIT = 5;

export type SimilarTo =
  | { experimentId: string }
  | { draft: MessageInitShape<typeof ExperimentSchema>; draftTags: string[] };

/** `value`, once it has stayed the same for `delayMs`. */
export function useDebounced<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}

export function SimilarExperiments(props: {
  to: SimilarTo | undefined;
  /** Shown instead of results when `to` is undefined. */
  idleText?: string;
}) {
  const { to } = props;
  const request =
    to === undefined
      ? {}
      : "experimentId" in to
        ? { experimentId: to.experimentId, limit: LIMIT }
        : { draft: to.draft, draftTags: to.draftTags, limit: LIMIT };
  const similar = useQuery(LearningService.method.findSimilar, request, {
    enabled: to !== undefined,
  });
  return (
    <section aria-labelledby="similar-heading" className="panel similar" data-testid="similar">
      <h2 id="similar-heading">Similar experiments</h2>
      <p className="help">
        Completed experiments that share a flag, tags, metrics, audience or variant shape, with what
        they found. Similarity is the share of the most points possible.
      </p>
      {to === undefined && <p className="status">{props.idleText}</p>}
      {to !== undefined && similar.isPending && <Loading what="similar experiments" />}
      {similar.isError && (
        <p className="field-error">
          Could not find similar experiments: {describeError(similar.error)}
        </p>
      )}
      {to !== undefined &&
        similar.isSuccess &&
        (similar.data.similar.length === 0 ? (
          <Empty>No completed experiment is similar.</Empty>
        ) : (
          <ol className="plain-list similar-list">
            {similar.data.similar.map((match) => {
              const l = match.learning;
              if (l === undefined) return null;
              const details =
                match.reasonDetails.length > 0
                  ? match.reasonDetails
                  : match.reasons.map((reason) => ({ reason, detail: "", weight: Number.NaN }));
              return (
                <li key={l.experimentId} className="similar-hit">
                  <h3>
                    <Link to={`/learnings/${l.experimentId}`}>{l.experimentName}</Link>{" "}
                    <span className="similar-score">
                      similarity {formatPercent(match.score, 0)}
                    </span>
                  </h3>
                  <div className="learn-meta">
                    <OutcomeBadge outcome={l.outcome} />
                    <GuardrailBadge fired={l.firedGuardrailMetricKeys} />
                    <NeedsWritingUpBadge filled={l.filled} />
                    <span>
                      Completed <time>{formatTime(l.completedAt)}</time>
                    </span>
                  </div>
                  <p className="learn-effect">
                    Primary effect: <EffectSummary effect={l.primaryEffect} />
                  </p>
                  <ul className="similar-reasons" aria-label={`Why ${l.experimentName} matched`}>
                    {details.map((d) => (
                      <li key={d.reason}>
                        <strong>{reasonLabel(d.reason)}</strong>
                        {d.detail !== "" && <>: {d.detail}</>}
                        {Number.isFinite(d.weight) && (
                          <span className="muted"> (weight {formatNumber(d.weight)})</span>
                        )}
                      </li>
                    ))}
                  </ul>
                  <p className="similar-links">
                    <Link to={resultsPath(l)}>
                      Results<span className="visually-hidden"> of {l.experimentName}</span>
                    </Link>{" "}
                    ·{" "}
                    <Link to={`/learnings/${l.experimentId}`}>
                      Learning<span className="visually-hidden"> of {l.experimentName}</span>
                    </Link>
                  </p>
                </li>
              );
            })}
          </ol>
        ))}
    </section>
  );
}
