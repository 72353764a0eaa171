/**
 * Create and edit a metric. Roles that may not write and archived metrics get
 * the form read-only.
 */
import { useMemo } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import {
  CatalogService,
  FunnelOrder,
  MetricKind,
  PropertyType,
  type Metric,
} from "../../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { SERVICES } from "../../api/permissions.js";
import { errorFor } from "../../api/errors.js";
import {
  buildMetric,
  EMPTY_METRIC_FORM,
  metricKindUses,
  metricToForm,
  type MetricForm as MetricFormState,
} from "../../api/catalog.js";
import { Field } from "../Field.js";
import { ErrorMessage, Loading } from "../Status.js";
import { enumLabel } from "../../format/labels.js";
import { CheckboxField } from "./FormBits.js";
import { CatalogEntryShell, CatalogLoadError } from "./CatalogFormShell.js";
import { stamp, useCatalogForm } from "./useCatalogForm.js";

const METRIC_KINDS = [
  MetricKind.COUNT,
  MetricKind.CONVERSION_RATE,
  MetricKind.SUM,
  MetricKind.MEAN,
  MetricKind.PERCENTILE,
  MetricKind.RATIO,
  MetricKind.FUNNEL,
  MetricKind.RETENTION,
  MetricKind.SESSION_COUNT,
  MetricKind.SESSION_DURATION,
];
const KIND_HELP: Record<number, string> = {
  [MetricKind.COUNT]: "Number of events, compared per exposed subject.",
  [MetricKind.CONVERSION_RATE]: "Share of exposed subjects with at least one event (0–1).",
  [MetricKind.SUM]: "Sum of a number property, compared per exposed subject.",
  [MetricKind.MEAN]: "Mean of a number property over events.",
  [MetricKind.PERCENTILE]: "A percentile of a number property over events.",
  [MetricKind.RATIO]: "One count or sum metric divided by another.",
  [MetricKind.FUNNEL]:
    "Share of exposed subjects reaching each step, within a window from their first exposure.",
  [MetricKind.RETENTION]:
    "Share of exposed subjects with an event on the given days after their first exposure.",
  [MetricKind.SESSION_COUNT]: "Sessions per exposed subject (a new session after a gap).",
  [MetricKind.SESSION_DURATION]: "Seconds spent in sessions per exposed subject.",
};

/** A select of keys that still shows the current value when it is not in the list (e.g. archived). */
function keyOptions(keys: string[], current: string, placeholder: string) {
  const all = current !== "" && !keys.includes(current) ? [current, ...keys] : keys;
  return (
    <>
      <option value="">{placeholder}</option>
      {all.map((k) => (
        <option key={k} value={k}>
          {k}
        </option>
      ))}
    </>
  );
}

export function ExistingMetric(props: { metricKey: string }) {
  const q = useQuery(CatalogService.method.getMetric, { key: props.metricKey });
  if (q.isPending) return <Loading what="the metric" />;
  if (q.isError || q.data.metric === undefined) {
    return <CatalogLoadError what="metric" itemKey={props.metricKey} error={q.error} />;
  }
  const m = q.data.metric;
  return <MetricForm key={`${m.key}:${stamp(m.updatedAt)}`} metric={m} />;
}

/** The form's fields that hold text. */
type TextFieldName = {
  [K in keyof MetricFormState]: MetricFormState[K] extends string ? K : never;
}[keyof MetricFormState];

export function MetricForm(props: { metric?: Metric }) {
  const { metric } = props;
  const ed = useCatalogForm({
    what: "metric",
    service: CatalogService,
    policy: SERVICES.catalog,
    rpc: "Metric",
    record: metric,
    initial: () => (metric === undefined ? EMPTY_METRIC_FORM : metricToForm(metric)),
  });
  const { form, setForm, set, errs, canEdit } = ed;

  const createM = useMutation(CatalogService.method.createMetric);
  const updateM = useMutation(CatalogService.method.updateMetric);
  const archiveM = useMutation(CatalogService.method.archiveMetric);

  const eventTypes = useQuery(CatalogService.method.listEventTypes, { pageSize: 500 });
  const metrics = useQuery(CatalogService.method.listMetrics, { pageSize: 500 });
  const uses = metricKindUses(form.kind);
  const selectedType = eventTypes.data?.eventTypes.find((e) => e.key === form.eventTypeKey);
  const numberProps = useMemo(
    () =>
      (selectedType?.properties ?? [])
        .filter((p) => p.type === PropertyType.NUMBER)
        .map((p) => p.name),
    [selectedType],
  );
  const ratioParts = (metrics.data?.metrics ?? []).filter(
    (m) => (m.kind === MetricKind.COUNT || m.kind === MetricKind.SUM) && m.key !== form.key,
  );

  const err = (field: string) =>
    errorFor(errs.errors, `metric.${field}`) ?? errorFor(errs.errors, field);
  /** A text input bound to one text field of the form, with its help and server error. */
  const textField = (f: {
    name: TextFieldName;
    label: string;
    help: string;
    error: string;
    inputMode: "decimal" | "numeric";
  }) => (
    <Field label={f.label} help={f.help} error={err(f.error)}>
      <input
        name={f.name}
        inputMode={f.inputMode}
        value={form[f.name]}
        onChange={(e) => set(f.name, e.target.value)}
      />
    </Field>
  );

  return (
    <CatalogEntryShell
      editor={ed}
      record={metric}
      banners={
        <>
          {metric?.archived === true && (
            <p className="banner warn">
              This metric is archived: experiments already using it keep reporting it, but it cannot
              be changed.
            </p>
          )}
          {metric?.archived === false && canEdit && (
            <p className="banner">
              Reports always use the current definition, so saving changes past windows too.
            </p>
          )}
        </>
      }
      alerts={
        (eventTypes.isError || metrics.isError) && (
          <ErrorMessage
            error={eventTypes.error ?? metrics.error}
            title="The catalog lists could not be loaded"
          />
        )
      }
      onSubmit={ed.onSubmit({
        build: () => buildMetric(form),
        create: async (built) =>
          (await createM.mutateAsync({ metric: built.metric })).metric?.key ?? built.metric.key,
        path: (key) => `/catalog/metrics/${encodeURIComponent(key)}`,
        update: (built) =>
          updateM.mutateAsync({
            metric: { ...built.metric, key: metric?.key ?? built.metric.key },
          }),
      })}
      busy={createM.isPending || updateM.isPending || archiveM.isPending}
      archive={{
        explanation:
          "New or edited experiments and ratio metrics cannot use an archived metric; those already using it keep reporting it. It cannot be undone.",
        run: (key) => archiveM.mutateAsync({ key }),
      }}
      newKeyHelp="Letters, digits, _ . - ; starts with a letter, e.g. checkout_rate. Cannot change later."
      err={err}
    >
      <Field label="Kind" help={KIND_HELP[form.kind]} error={err("kind")}>
        <select
          name="kind"
          value={form.kind}
          onChange={(e) => set("kind", Number(e.target.value) as MetricKind)}
        >
          {METRIC_KINDS.map((k) => (
            <option key={k} value={k}>
              {enumLabel(MetricKind, k)}
            </option>
          ))}
        </select>
      </Field>
      {uses.eventType && (
        <Field
          label="Event type"
          help="The events counted or measured."
          error={err("event_type_key")}
        >
          <select
            name="eventTypeKey"
            value={form.eventTypeKey}
            onChange={(e) => setForm((f) => ({ ...f, eventTypeKey: e.target.value, property: "" }))}
          >
            {keyOptions(
              (eventTypes.data?.eventTypes ?? []).map((e) => e.key),
              form.eventTypeKey,
              eventTypes.isPending ? "Loading event types…" : "Choose an event type",
            )}
          </select>
        </Field>
      )}
      {uses.property && (
        <Field
          label="Property"
          help={
            form.eventTypeKey === ""
              ? "Choose an event type first; only its number properties can be used."
              : numberProps.length === 0 && selectedType !== undefined
                ? `${form.eventTypeKey} declares no number property.`
                : "A number property of the event type; events without it are skipped."
          }
          error={err("property")}
        >
          <select
            name="property"
            value={form.property}
            onChange={(e) => set("property", e.target.value)}
          >
            {keyOptions(numberProps, form.property, "Choose a property")}
          </select>
        </Field>
      )}
      {uses.percentile &&
        textField({
          name: "percentile",
          label: "Percentile",
          help: "Strictly between 0 and 100, e.g. 50, 95 or 99.",
          error: "percentile",
          inputMode: "decimal",
        })}
      {uses.ratio && (
        <>
          <Field
            label="Numerator metric"
            help="A count or sum metric."
            error={err("numerator_metric_key")}
          >
            <select
              name="numeratorMetricKey"
              value={form.numeratorMetricKey}
              onChange={(e) => set("numeratorMetricKey", e.target.value)}
            >
              {keyOptions(
                ratioParts.map((m) => m.key),
                form.numeratorMetricKey,
                "Choose a metric",
              )}
            </select>
          </Field>
          <Field
            label="Denominator metric"
            help="A different count or sum metric."
            error={err("denominator_metric_key")}
          >
            <select
              name="denominatorMetricKey"
              value={form.denominatorMetricKey}
              onChange={(e) => set("denominatorMetricKey", e.target.value)}
            >
              {keyOptions(
                ratioParts.map((m) => m.key),
                form.denominatorMetricKey,
                "Choose a metric",
              )}
            </select>
          </Field>
        </>
      )}
      {uses.funnel && (
        <>
          <Field
            label="Steps"
            help="One step per line, in order: an event type, optionally followed by a filter on one of its properties, e.g. `checkout_started` or `cart amount >= 20` (operators = != > >= < <=)."
            error={err("funnel.steps")}
          >
            <textarea
              name="funnelSteps"
              rows={5}
              value={form.funnelSteps}
              onChange={(e) => set("funnelSteps", e.target.value)}
            />
          </Field>
          {textField({
            name: "funnelWindowHours",
            label: "Conversion window (hours)",
            help: "Steps count from the subject's first exposure until this many hours later.",
            error: "funnel.conversion_window_seconds",
            inputMode: "decimal",
          })}
          <Field
            label="Order"
            help="Strict: each step after the previous one. Loose: each step anywhere in the window."
            error={err("funnel.order")}
          >
            <select
              name="funnelOrder"
              value={form.funnelOrder}
              onChange={(e) => set("funnelOrder", Number(e.target.value) as FunnelOrder)}
            >
              <option value={FunnelOrder.STRICT}>Strict</option>
              <option value={FunnelOrder.LOOSE}>Loose</option>
            </select>
          </Field>
        </>
      )}
      {uses.retention && (
        <>
          {textField({
            name: "dayFrom",
            label: "From day",
            help: "Day 0 is the first 24 hours after the subject's first exposure.",
            error: "retention.day_from",
            inputMode: "numeric",
          })}
          {textField({
            name: "dayTo",
            label: "To day",
            help: "The last day counted; equal to the first for day N retention.",
            error: "retention.day_to",
            inputMode: "numeric",
          })}
        </>
      )}
      {uses.session &&
        textField({
          name: "sessionGapMinutes",
          label: "Session gap (minutes)",
          help: "A pause longer than this starts a new session. Leave the event type empty to use every event.",
          error: "session.gap_seconds",
          inputMode: "decimal",
        })}
      <CheckboxField
        label="Requires exposure"
        name="requiresExposure"
        checked={form.requiresExposure}
        onChange={(checked) => set("requiresExposure", checked)}
        help="Only events attributed to an exposure (same decision id) count, whatever the event type's policy."
        error={err("requires_exposure")}
      />
    </CatalogEntryShell>
  );
}
