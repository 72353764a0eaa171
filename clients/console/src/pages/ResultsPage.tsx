/**
 * An experiment's results: per metric and variant the value, differences
 * with intervals drawn against zero, p-values and a verdict in words; the
 * primary metric over time; data health; guardrail triggers; the outcome
 * snapshot once completed; a segment filter and a breakdown by a dimension
 * (docs/segments.md). The whole view (window, metric, segment, breakdown)
 * lives in the URL, so the address is a permalink. Open windows update live.
 */
import { useMemo, useRef } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import {
  ExperimentService,
  ExperimentStatus,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { ReportService } from "../../../../gen/lotty/reports/v1/reports_pb.js";
import { GuardrailService } from "../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { CatalogService } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { useUser } from "../api/session.js";
import { may, SERVICES } from "../api/permissions.js";
import { useLiveReport } from "../api/reports.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { enumLabel } from "../format/labels.js";
import { formatAgo, formatTime } from "../format/dates.js";
import { formatCount } from "../format/numbers.js";
import {
  parseView,
  resolveWindow,
  segmentConditions,
  windowProblem,
  withSegmentValues,
  writeView,
  type ViewState,
} from "../format/window.js";
import { SegmentPicker } from "../components/results/SegmentPicker.js";
import { SavedSegmentPicker } from "../components/results/SavedSegmentPicker.js";
import { BreakdownTables } from "../components/results/BreakdownTables.js";
import { ResultsTable, correctionLabel } from "../components/results/ResultsTable.js";
import { IntervalChart } from "../components/results/IntervalChart.js";
import { SeriesChart } from "../components/results/SeriesChart.js";
import { FunnelChart, RetentionChart } from "../components/results/FunnelChart.js";
import { HealthPanel } from "../components/results/HealthPanel.js";
import { TriggerList } from "../components/results/TriggerList.js";
import { OutcomeSnapshot } from "../components/results/OutcomeSnapshot.js";
import { WindowPicker } from "../components/results/WindowPicker.js";
import { MetricPicker } from "../components/results/MetricPicker.js";
import { ExportMenu } from "../components/results/ExportMenu.js";
import { EventExportPanel } from "../components/results/EventExportPanel.js";
import { fallbackInfo, metricInfos, type MetricInfo } from "../components/results/metrics.js";
import { useWidth } from "../components/results/useWidth.js";
import { formatStepPercent, modeLabel, stepBoundaries } from "../components/experiments/ramp.js";

function statusTone(status: ExperimentStatus): string {
  switch (status) {
    case ExperimentStatus.RUNNING:
      return "good";
    case ExperimentStatus.PAUSED:
    case ExperimentStatus.REJECTED:
      return "warn";
    default:
      return "";
  }
}

function clock(d: Date | undefined): string {
  return d === undefined ? "—" : `${d.toISOString().slice(11, 19)} UTC`;
}

export default function ResultsPage() {
  const { id = "" } = useParams();
  const { user } = useUser();
  const [params, setParams] = useSearchParams();
  const view = useMemo(() => parseView(params), [params]);
  const setView = (next: ViewState, replace = false) =>
    setParams(writeView(next, params), { replace });

  const fromMs = view.from?.getTime();
  const toMs = view.to?.getTime();
  // Relative windows are anchored when chosen (or when the page opens), not on every render.
  const window = useMemo(
    () =>
      resolveWindow(
        {
          window: view.window,
          from: fromMs === undefined ? undefined : new Date(fromMs),
          to: toMs === undefined ? undefined : new Date(toMs),
        },
        new Date(),
      ),
    [view.window, fromMs, toMs],
  );
  const problem = windowProblem(view);
  const segmentKey = (view.segment ?? []).join("\n");
  const segment = useMemo(
    () => segmentConditions(segmentKey === "" ? [] : segmentKey.split("\n")),
    [segmentKey],
  );
  const breakdown = view.breakdown ?? "";
  const savedSegment = view.savedSegment ?? "";

  const experimentQuery = useQuery(ExperimentService.method.getExperiment, { id });
  const experiment = experimentQuery.data?.experiment;
  const catalogQuery = useQuery(CatalogService.method.listMetrics, { pageSize: 500 });
  const triggersQuery = useQuery(
    GuardrailService.method.listGuardrailTriggers,
    { experimentId: id, pageSize: 100 },
    { refetchInterval: 30_000 },
  );
  const completed =
    experiment?.status === ExperimentStatus.COMPLETED ||
    experiment?.status === ExperimentStatus.ARCHIVED;
  const hasRamp = (experiment?.rampPlan?.steps.length ?? 0) > 0;
  const rampQuery = useQuery(
    ExperimentService.method.listRampEvents,
    { id },
    { enabled: hasRamp, refetchInterval: 30_000 },
  );
  const steps = useMemo(
    () => stepBoundaries(rampQuery.data?.events ?? [], user.id),
    [rampQuery.data, user.id],
  );
  const outcomeQuery = useQuery(
    ReportService.method.getOutcomeReport,
    { experimentId: id },
    { enabled: completed },
  );

  const live = useLiveReport({
    experimentId: id,
    from: window.from,
    to: window.to,
    enabled: id !== "" && problem === undefined,
    segment,
    breakdownDimension: breakdown,
    savedSegment,
  });
  const report = live.report;

  const infos = useMemo(
    () => metricInfos(report, catalogQuery.data?.metrics, experiment),
    [report, catalogQuery.data, experiment],
  );
  const primaryKey = report?.primaryMetricKey || experiment?.primaryMetricKey || "";
  const metricKey = view.metric ?? primaryKey;
  const info: MetricInfo = infos.get(metricKey) ?? fallbackInfo(metricKey);
  const primaryInfo = infos.get(primaryKey) ?? fallbackInfo(primaryKey);
  const chartRef = useRef<SVGSVGElement>(null);
  const [intervalBox, intervalWidth] = useWidth<HTMLDivElement>(760);
  const [seriesBox, seriesWidth] = useWidth<HTMLDivElement>(760);
  const canExport = may(user.roles, SERVICES.reports, "ExportExperimentReport");
  const canExportEvents = may(user.roles, SERVICES.eventExports, "StartEventExport");

  if (experimentQuery.error !== null) {
    return (
      <>
        <h1>Results</h1>
        <ErrorMessage error={experimentQuery.error} title="Experiment" />
        <p>
          <Link to="/experiments">Back to experiments</Link>
        </p>
      </>
    );
  }
  if (experiment === undefined) return <Loading what="the experiment" />;

  const neverStarted = experiment.startedAt === undefined;
  const showLive = window.to === undefined;

  return (
    <div className="results-page">
      <p className="crumbs">
        <Link to={`/experiments/${id}`}>
          <span aria-hidden="true">← </span>Experiment details
        </Link>
      </p>
      <header className="results-header">
        <h1>{experiment.name}</h1>
        <div className="results-meta">
          <span className={`badge ${statusTone(experiment.status)}`}>
            Status: {enumLabel(ExperimentStatus, experiment.status)}
          </span>
          {experiment.rolledBack && <span className="badge bad">Rolled back to control</span>}
          <span>
            Flag{" "}
            <Link to={`/flags/${encodeURIComponent(experiment.flagKey)}`}>
              <code>{experiment.flagKey}</code>
            </Link>
          </span>
          <span>Started {formatTime(experiment.startedAt)}</span>
          {experiment.ramp !== undefined && (
            <span>
              Ramp {formatStepPercent(experiment.ramp.stepPercent)} (
              {modeLabel(experiment.ramp.mode).toLowerCase()})
            </span>
          )}
          {showLive && report !== undefined && (
            <span className={`live ${live.live ? "on" : "off"}`} role="status" aria-live="polite">
              {live.live ? (
                <>
                  <span className="live-dot" aria-hidden="true" /> Live · last update{" "}
                  {clock(live.receivedAt)}
                </>
              ) : (
                <>Not live · last update {clock(live.receivedAt)}</>
              )}
            </span>
          )}
        </div>
      </header>

      {report?.srm?.mismatch === true && (
        <p className="banner bad">
          Sample ratio mismatch in this window: the comparisons below should not be trusted.{" "}
          <a href="#data-health">See data health</a>.
        </p>
      )}
      {report?.rawEventsIncomplete === true && (
        <p className="banner warn" data-testid="retention-banner">
          Raw events before {formatTime(report.rawEventsFrom)} were dropped by the event retention:
          percentiles, segment figures and the partial hours at this window&apos;s edges miss them;
          counts, rates, sums and means kept in the rollups do not.
        </p>
      )}
      {experiment.status === ExperimentStatus.PAUSED && (
        <p className="banner warn">
          This experiment is paused
          {experiment.rolledBack ? " and rolled back: every subject gets the control value" : ""}.
          {(triggersQuery.data?.triggers.length ?? 0) > 0 && (
            <>
              {" "}
              <a href="#guardrail-triggers">A guardrail fired</a>.
            </>
          )}
        </p>
      )}

      {completed && (
        <OutcomeSnapshot
          snapshot={outcomeQuery.data}
          experiment={experiment}
          error={outcomeQuery.error ?? undefined}
          loading={outcomeQuery.isLoading}
          infoFor={(k) => infos.get(k)}
        />
      )}

      <form
        className="toolbar results-toolbar"
        onSubmit={(e) => e.preventDefault()}
        aria-label="View"
      >
        <WindowPicker
          view={view}
          onChange={(next) => setView(next, next.window === view.window)}
          suggestFrom={
            report?.from === undefined ? undefined : new Date(Number(report.from.seconds) * 1000)
          }
          suggestTo={
            report?.to === undefined ? undefined : new Date(Number(report.to.seconds) * 1000)
          }
        />
        {report !== undefined && report.metrics.length > 0 && (
          <MetricPicker
            metrics={[...infos.values()]}
            primaryKey={primaryKey}
            value={metricKey}
            onChange={(key) => {
              const next: ViewState = { ...view };
              if (key === primaryKey) delete next.metric;
              else next.metric = key;
              setView(next);
            }}
          />
        )}
        <SegmentPicker
          experimentId={id}
          filter={segment}
          breakdown={breakdown}
          onFilter={(dimension, values) => setView(withSegmentValues(view, dimension, values))}
          onBreakdown={(dimension) => {
            const next: ViewState = { ...view };
            if (dimension === "") delete next.breakdown;
            else next.breakdown = dimension;
            setView(next);
          }}
        />
        <SavedSegmentPicker
          value={savedSegment}
          onChange={(key) => {
            const next: ViewState = { ...view };
            if (key === "") delete next.savedSegment;
            else next.savedSegment = key;
            setView(next);
          }}
        />
      </form>
      <ExportMenu
        experimentId={id}
        from={window.from}
        to={window.to}
        canExport={canExport}
        chart={chartRef}
        chartName={`chart-${id}-${metricKey}`}
        segment={segment}
        breakdownDimension={breakdown}
        savedSegment={savedSegment}
      />
      {canExportEvents && (
        <EventExportPanel
          experimentId={id}
          from={window.from}
          to={window.to}
          windowValid={problem === undefined}
        />
      )}

      {live.error !== undefined ? (
        <ErrorMessage error={live.error} title="Report" />
      ) : problem !== undefined ? (
        <Empty>Choose a window whose end is after its start.</Empty>
      ) : report === undefined ? (
        <Loading what="the report" />
      ) : (
        <>
          {segment.length > 0 && (
            <p className="banner" data-testid="segment-banner">
              Segment:{" "}
              {segment.map((c) => `${c.dimension} is ${c.values.join(" or ")}`).join(", and ")}.
              Every figure but data health covers only these subjects.
            </p>
          )}
          {report.savedSegment !== "" && (
            <p className="banner" data-testid="saved-segment-banner">
              Saved segment:{" "}
              <Link to={`/saved-segments/${encodeURIComponent(report.savedSegment)}`}>
                <code>{report.savedSegment}</code>
              </Link>{" "}
              (version {report.savedSegmentVersion}). Every figure but data health covers only the
              subjects whose recorded dimension values match its rule.
            </p>
          )}
          <dl className="summary-cards" aria-label="Report summary">
            <div>
              <dt>Subjects</dt>
              <dd>{formatCount(report.subjects)}</dd>
            </div>
            <div>
              <dt>Exposures</dt>
              <dd>{formatCount(report.exposures)}</dd>
            </div>
            <div>
              <dt>Window (UTC)</dt>
              <dd className="small">
                {formatTime(report.from).replace(" UTC", "")} →{" "}
                {formatTime(report.to).replace(" UTC", "")}
              </dd>
            </div>
            <div>
              <dt>Correction</dt>
              <dd className="small">{correctionLabel(report.correction)}</dd>
            </div>
            <div>
              <dt>Built</dt>
              <dd className="small">
                {formatAgo(report.generatedAt)} · v{report.experimentVersion}
              </dd>
            </div>
          </dl>
          {report.subjects === 0 && neverStarted && (
            <p className="banner warn">
              This experiment has not started yet, so there are no results.
            </p>
          )}

          <section aria-labelledby="results-heading">
            <h2 id="results-heading">Results: {info.name}</h2>
            <ResultsTable report={report} metricKey={metricKey} info={info} />
            {report.subjects > 0 && (
              <div className="chart-box" ref={intervalBox}>
                <IntervalChart
                  ref={chartRef}
                  report={report}
                  metricKey={metricKey}
                  info={info}
                  width={intervalWidth}
                />
              </div>
            )}
          </section>

          <FunnelChart report={report} metricKey={metricKey} info={info} />
          <RetentionChart report={report} metricKey={metricKey} info={info} />

          <BreakdownTables report={report} metricKey={metricKey} info={info} />

          <section aria-labelledby="series-heading">
            <h2 id="series-heading">{primaryInfo.name} over time</h2>
            <p className="help">
              Cumulative value from the window&apos;s start, per variant; the last point is the
              report&apos;s value.
            </p>
            <div className="chart-box" ref={seriesBox}>
              <SeriesChart report={report} info={primaryInfo} width={seriesWidth} steps={steps} />
            </div>
          </section>
        </>
      )}

      <HealthPanel report={live.error !== undefined ? undefined : report} />

      <TriggerList
        triggers={triggersQuery.data?.triggers}
        error={triggersQuery.error ?? undefined}
        loading={triggersQuery.isLoading}
      />
    </div>
  );
}
