/**
 * The learnings library: full-text search over what finished experiments
 * taught, with filters. Words and filters are in the URL (a permalink); the
 * page position is kept while the filters stay the same.
 */
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { LearningService } from "../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { fieldErrors } from "../api/errors.js";
import { formatTime } from "../format/dates.js";
import { formatPercent } from "../format/numbers.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { Pager, usePager } from "../components/Pager.js";
import { LearningFilters } from "../components/learnings/LearningFilters.js";
import {
  EffectSummary,
  GuardrailBadge,
  NeedsWritingUpBadge,
  OutcomeBadge,
  Snippet,
  TagList,
} from "../components/learnings/bits.js";
import {
  filterProblems,
  filterRequest,
  filterSearch,
  isFiltered,
  parseFilter,
  writeFilter,
  type LearningFilter,
} from "../components/learnings/filters.js";

const PAGE_SIZE = 20;

export default function LearningsPage() {
  const [params, setParams] = useSearchParams();
  const filter = parseFilter(params);
  const filterKey = writeFilter(filter).toString();
  const pager = usePager();
  // New words or filters start again at the first page.
  const [pagedKey, setPagedKey] = useState(filterKey);
  if (pagedKey !== filterKey) {
    setPagedKey(filterKey);
    pager.reset();
  }
  const problems = filterProblems(filter);
  const search = useQuery(
    LearningService.method.searchLearnings,
    { ...filterRequest(filter), pageSize: PAGE_SIZE, pageToken: pager.token },
    { enabled: problems.length === 0 },
  );
  const errors = [...problems, ...(search.isError ? fieldErrors(search.error) : [])];

  function apply(next: LearningFilter) {
    setParams(writeFilter(next, params));
  }

  const total = search.data?.totalSize ?? 0;
  const results = search.data?.results ?? [];
  return (
    <>
      <h1>Learnings</h1>
      <p className="help">
        What every finished experiment taught: its outcome, measured effect and the team&apos;s
        notes. <Link to={`/learnings/meta${filterSearch(filter)}`}>Meta-analysis</Link> of the
        learnings these filters select.
      </p>
      <LearningFilters
        filter={filter}
        onApply={apply}
        errors={errors}
        label="Search and filter learnings"
      />
      <h2>Results</h2>
      {problems.length > 0 && (
        <p className="error" role="alert">
          {problems.map((p) => p.message).join("; ")}: correct the dates to search.
        </p>
      )}
      {problems.length === 0 && search.isPending && <Loading what="learnings" />}
      {search.isError && <ErrorMessage error={search.error} title="Could not search learnings" />}
      {search.isSuccess && (
        <>
          <p className="status" role="status" aria-live="polite">
            {total === 1
              ? "1 learning matches"
              : `${total.toLocaleString("en-US")} learnings match`}
            {isFiltered(filter) ? " these filters" : ""}
            {pager.page > 1 ? ` (page ${pager.page})` : ""}.
          </p>
          {results.length === 0 ? (
            <Empty>
              {isFiltered(filter)
                ? "No learning matches. Try fewer words or filters."
                : "No learnings yet: they are recorded when an experiment is completed."}
            </Empty>
          ) : (
            <ol className="learn-results plain-list">
              {results.map((match) => {
                const l = match.learning;
                if (l === undefined) return null;
                return (
                  <li key={l.experimentId} className="learn-result">
                    <h3>
                      <Link to={`/learnings/${l.experimentId}`}>{l.experimentName}</Link>
                    </h3>
                    <div className="learn-meta">
                      <OutcomeBadge outcome={l.outcome} />
                      <GuardrailBadge fired={l.firedGuardrailMetricKeys} />
                      <NeedsWritingUpBadge filled={l.filled} />
                      <span>
                        Completed <time>{formatTime(l.completedAt)}</time>
                      </span>
                      <span>
                        Flag <code>{l.flagKey}</code>
                      </span>
                      {match.score > 0 && filter.query.trim() !== "" && (
                        <span className="muted">relevance {formatPercent(match.score, 0)}</span>
                      )}
                    </div>
                    <p className="learn-effect">
                      Primary effect: <EffectSummary effect={l.primaryEffect} />
                    </p>
                    <Snippet text={match.snippet} />
                    <TagList tags={l.tags} label={`Tags of ${l.experimentName}`} />
                  </li>
                );
              })}
            </ol>
          )}
          <Pager pager={pager} nextToken={search.data.nextPageToken} label="Learnings" />
        </>
      )}
    </>
  );
}
