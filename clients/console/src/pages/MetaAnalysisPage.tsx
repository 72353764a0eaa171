/**
 * Meta-analysis of the learnings a search selects (the library's filters,
 * in the same URL form): outcome shares, guardrail firings, write-up debt,
 * planned against actual durations, and the summed measured effect on one
 * chosen metric (`impact_metric` in the URL) across shipped experiments.
 */
import { Link, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { LearningService } from "../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { CatalogService } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { fieldErrors } from "../api/errors.js";
import {
  formatCount,
  formatInterval,
  formatNumber,
  formatPercent,
  formatSigned,
  formatSignedPercent,
} from "../format/numbers.js";
import { ErrorMessage, Loading } from "../components/Status.js";
import { Field } from "../components/Field.js";
import { LearningFilters } from "../components/learnings/LearningFilters.js";
import { ImpactChart } from "../components/learnings/ImpactChart.js";
import {
  filterProblems,
  filterRequest,
  filterSearch,
  parseFilter,
  writeFilter,
  type LearningFilter,
} from "../components/learnings/filters.js";

function days(x: number): string {
  return x > 0 ? `${formatNumber(x, 1)} d` : "—";
}

export default function MetaAnalysisPage() {
  const [params, setParams] = useSearchParams();
  const filter = parseFilter(params);
  const metricKey = (params.get("impact_metric") ?? "").trim();
  const problems = filterProblems(filter);
  const metrics = useQuery(CatalogService.method.listMetrics, { pageSize: 500 });
  const meta = useQuery(
    LearningService.method.getMetaAnalysis,
    { filter: filterRequest(filter), metricKey },
    { enabled: problems.length === 0 },
  );
  const errors = [...problems, ...(meta.isError ? fieldErrors(meta.error) : [])];

  function apply(next: LearningFilter) {
    setParams(writeFilter(next, params));
  }
  function setMetric(key: string) {
    const next = new URLSearchParams(params);
    if (key === "") next.delete("impact_metric");
    else next.set("impact_metric", key);
    setParams(next);
  }

  const known = metrics.data?.metrics ?? [];
  const data = meta.data;
  return (
    <>
      <p className="exp-breadcrumb">
        <Link to={`/learnings${filterSearch(filter)}`}>Learnings</Link>
      </p>
      <h1>Meta-analysis of learnings</h1>
      <p className="help">
        Figures across the learnings these filters select. Shares are of the selected experiments.
      </p>
      <LearningFilters
        filter={filter}
        onApply={apply}
        errors={errors}
        label="Filter the analysed learnings"
        submitLabel="Analyse"
      />
      <div className="toolbar">
        <Field
          label="Impact metric"
          help="Sums the measured effect on this metric across shipped (rolled-out) experiments."
          error={errors.find((e) => e.field === "metric_key")?.message}
        >
          <select value={metricKey} onChange={(e) => setMetric(e.target.value)}>
            <option value="">{metrics.isPending ? "Loading metrics…" : "None"}</option>
            {metricKey !== "" && !known.some((m) => m.key === metricKey) && (
              <option value={metricKey}>{metricKey}</option>
            )}
            {known.map((m) => (
              <option key={m.key} value={m.key}>
                {m.name === "" ? m.key : `${m.name} (${m.key})`}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {problems.length > 0 && (
        <p className="error" role="alert">
          {problems.map((p) => p.message).join("; ")}: correct the dates to analyse.
        </p>
      )}
      {problems.length === 0 && meta.isPending && <Loading what="the analysis" />}
      {meta.isError && <ErrorMessage error={meta.error} title="Could not analyse learnings" />}
      {data !== undefined && (
        <>
          <h2>Outcomes</h2>
          <dl className="summary-cards" aria-label="Outcome shares">
            <Card term="Experiments" value={formatCount(data.experiments)} />
            <Card term="Win rate (rolled out)" value={formatPercent(data.winRate)} />
            <Card term="Rolled back" value={formatPercent(data.rollbackShare)} />
            <Card term="No effect" value={formatPercent(data.noEffectShare)} />
            <Card
              term="Primary metric moved significantly"
              value={formatPercent(data.significantShare)}
            />
            <Card term="A guardrail fired" value={formatPercent(data.guardrailFiredShare)} />
            <Card term="Needs writing up" value={formatPercent(data.needsWritingUpShare)} />
          </dl>
          <h2>Durations</h2>
          <dl className="summary-cards" aria-label="Durations">
            <Card term="Median actual duration (all)" value={days(data.medianActualDays)} />
            <Card
              term={`Median planned, ${formatCount(data.withPlan)} with a plan`}
              value={days(data.medianPlannedDays)}
            />
            <Card
              term="Median actual, same experiments"
              value={days(data.medianActualDaysWhenPlanned)}
            />
          </dl>
          <h2>Summed impact</h2>
          {metricKey === "" || data.impact === undefined ? (
            <p className="status">Choose an impact metric to sum its measured effects.</p>
          ) : (
            <>
              <dl className="summary-cards" aria-label={`Summed impact on ${metricKey}`}>
                <Card
                  term="Shipped experiments measuring it"
                  value={formatCount(data.impact.experiments)}
                />
                <Card
                  term="Summed relative effect"
                  value={formatSignedPercent(data.impact.summedRelativeDifference)}
                />
                <Card
                  term="Summed absolute effect"
                  value={formatSigned(data.impact.summedAbsoluteDifference)}
                />
                <Card
                  term="Summed interval (absolute)"
                  value={formatInterval(data.impact.summedCiLow, data.impact.summedCiHigh, (x) =>
                    formatSigned(x),
                  )}
                  small
                />
              </dl>
              <p className="help">
                A plain sum that ignores interactions between changes: a guide, not a forecast.
              </p>
              <ImpactChart impact={data.impact} />
            </>
          )}
        </>
      )}
    </>
  );
}

function Card(props: { term: string; value: string; small?: boolean }) {
  return (
    <div>
      <dt>{props.term}</dt>
      <dd className={props.small === true ? "small" : undefined}>{props.value}</dd>
    </div>
  );
}
