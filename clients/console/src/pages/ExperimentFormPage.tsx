/**
 * Create a draft (/experiments/new) or edit one (/experiments/:id/edit).
 * The server validates; every problem it names is shown at its field and
 * in a summary at the top, and the form keeps what was typed. The optional
 * "Autopilot ramp" section edits the draft's ramp plan (docs/autopilot.md):
 * off, the plan is removed on save.
 */
import { useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { useMutation } from "@tanstack/react-query";
import {
  Direction,
  ExperimentService,
  ExperimentStatus,
  GuardrailAction,
  RampSafetyAction,
  type Experiment,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagService, FlagType } from "../../../../gen/lotty/flags/v1/flags_pb.js";
import { CatalogService } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { errorFor, fieldErrors, type FieldError } from "../api/errors.js";
import { useInvalidateExperiments } from "../api/experiments.js";
import { may, SERVICES } from "../api/permissions.js";
import { useUser } from "../api/session.js";
import { enumLabel } from "../format/labels.js";
import { ErrorMessage, Loading } from "../components/Status.js";
import { Field } from "../components/Field.js";
import { FieldErrorList } from "../components/ErrorSummary.js";
import { FormActions } from "../components/FormActions.js";
import { safetyActionLabel, stepTrail } from "../components/experiments/ramp.js";
import {
  draftFromExperiment,
  draftToExperiment,
  emptyDraft,
  emptyGuardrail,
  emptyRampThreshold,
  RAMP_LIMITS,
  type ExperimentDraft,
  type GuardrailDraft,
  type RampDraft,
  type RampThresholdDraft,
  type VariantDraft,
} from "../components/experiments/draft.js";
import { DraftSimilar } from "../components/learnings/DraftSimilar.js";

export default function ExperimentFormPage() {
  const { id } = useParams();
  const { user } = useUser();
  const method = id === undefined ? "CreateExperiment" : "UpdateExperiment";
  if (!may(user.roles, SERVICES.experiments, method)) {
    return (
      <>
        <h1>{id === undefined ? "New experiment" : "Edit experiment"}</h1>
        <p className="banner warn">
          Your roles do not allow {id === undefined ? "creating" : "editing"} experiments.{" "}
          <Link to={id === undefined ? "/experiments" : `/experiments/${id}`}>Back</Link>
        </p>
      </>
    );
  }
  return id === undefined ? <ExperimentForm key="new" /> : <EditExperiment id={id} />;
}

function EditExperiment(props: { id: string }) {
  const query = useQuery(ExperimentService.method.getExperiment, { id: props.id });
  if (query.isPending) return <Loading what="the experiment" />;
  if (query.isError || query.data.experiment === undefined) {
    return (
      <>
        <h1>Edit experiment</h1>
        <ErrorMessage
          error={query.error ?? new Error("The answer had no experiment.")}
          title="Could not load the experiment"
        />
      </>
    );
  }
  const e = query.data.experiment;
  if (e.status !== ExperimentStatus.DRAFT) {
    return (
      <>
        <h1>Edit {e.name}</h1>
        <p className="banner warn">
          Only drafts can be edited; this experiment is {enumLabel(ExperimentStatus, e.status)}.{" "}
          <Link to={`/experiments/${e.id}`}>Back to the experiment</Link>
        </p>
      </>
    );
  }
  // Keyed by version: a newer version starts a fresh form.
  return <ExperimentForm key={`${e.id}@${e.version}`} existing={e} />;
}

/** The exact error for a field that has sub-fields (e.g. "experiment.variants" itself). */
function exactError(errors: FieldError[], field: string): string | undefined {
  const hits = errors.filter((e) => e.field === field);
  return hits.length === 0 ? undefined : hits.map((e) => `${e.field}: ${e.message}`).join("; ");
}

/** Every error for a field and its sub-fields (e.g. each of "experiment.ramp_plan.steps[i]"). */
function allErrorsFor(errors: FieldError[], field: string): string | undefined {
  const hits = errors.filter(
    (e) => e.field === field || e.field.startsWith(`${field}.`) || e.field.startsWith(`${field}[`),
  );
  return hits.length === 0 ? undefined : hits.map((e) => `${e.field}: ${e.message}`).join("; ");
}

const SAFETY_ACTIONS = [
  RampSafetyAction.PAUSE,
  RampSafetyAction.ROLLBACK,
  RampSafetyAction.STEP_BACK,
] as const;

function ExperimentForm(props: { existing?: Experiment }) {
  const existing = props.existing;
  const navigate = useNavigate();
  const transport = useTransport();
  const client = useMemo(() => createClient(ExperimentService, transport), [transport]);
  const invalidate = useInvalidateExperiments();
  const summaryRef = useRef<HTMLDivElement>(null);

  const [draft, setDraft] = useState<ExperimentDraft>(() =>
    existing === undefined ? emptyDraft() : draftFromExperiment(existing),
  );
  const [errors, setErrors] = useState<FieldError[]>([]);

  const flags = useQuery(FlagService.method.listFlags, { pageSize: 500 });
  const metrics = useQuery(CatalogService.method.listMetrics, { pageSize: 500 });
  const flag = flags.data?.flags.find((f) => f.key === draft.flagKey);
  const flagType = flag?.type ?? FlagType.STRING;

  const save = useMutation({
    mutationFn: async (): Promise<
      { problems: FieldError[] } | { saved: Experiment | undefined }
    > => {
      // UpdateExperiment replaces the whole configuration: with the ramp
      // section off, the draft's ramp plan is removed.
      const { experiment, problems } = draftToExperiment(draft, flagType, existing?.id ?? "");
      if (problems.length > 0) return { problems };
      const saved =
        existing === undefined
          ? await client.createExperiment({ experiment })
          : await client.updateExperiment({ experiment, expectedVersion: existing.version });
      return { saved: saved.experiment };
    },
    onMutate: () => setErrors([]),
    onSuccess: async (result) => {
      if ("problems" in result) {
        setErrors(result.problems);
        summaryRef.current?.focus();
        return;
      }
      await invalidate();
      void navigate(`/experiments/${result.saved?.id ?? existing?.id ?? ""}`);
    },
    onError: (error) => {
      setErrors(fieldErrors(error));
      // The summary (field errors) or the general error is rendered next; move focus to it.
      setTimeout(() => summaryRef.current?.focus(), 0);
    },
  });

  function set<K extends keyof ExperimentDraft>(key: K, value: ExperimentDraft[K]) {
    setDraft((d) => ({ ...d, [key]: value }));
  }
  function setVariant(i: number, change: Partial<VariantDraft>) {
    setDraft((d) => ({
      ...d,
      variants: d.variants.map((v, j) => (j === i ? { ...v, ...change } : v)),
    }));
  }
  function setGuardrail(i: number, change: Partial<GuardrailDraft>) {
    setDraft((d) => ({
      ...d,
      guardrails: d.guardrails.map((g, j) => (j === i ? { ...g, ...change } : g)),
    }));
  }
  function setRamp(change: Partial<RampDraft>) {
    setDraft((d) => ({ ...d, ramp: { ...d.ramp, ...change } }));
  }
  function setRampThreshold(i: number, change: Partial<RampThresholdDraft>) {
    setDraft((d) => ({
      ...d,
      ramp: {
        ...d.ramp,
        thresholds: d.ramp.thresholds.map((t, j) => (j === i ? { ...t, ...change } : t)),
      },
    }));
  }
  function removeVariant(i: number) {
    setDraft((d) => ({
      ...d,
      variants: d.variants.filter((_, j) => j !== i),
      control: d.control === i ? 0 : d.control > i ? d.control - 1 : d.control,
    }));
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate();
  }

  const weightSum = draft.variants.reduce((sum, v) => sum + (Number(v.weight) || 0), 0);
  const activeFlags = (flags.data?.flags ?? []).filter(
    (f) => !f.archived || f.key === draft.flagKey,
  );
  const activeMetrics = (metrics.data?.metrics ?? []).filter(
    (m) => !m.archived || m.key === draft.primaryMetricKey || draft.metricKeys.includes(m.key),
  );
  const metricName = (key: string) => {
    const m = metrics.data?.metrics.find((x) => x.key === key);
    return m === undefined || m.name === "" ? key : `${m.name} (${key})`;
  };
  // Ramp thresholds use the experiment's own metrics (its report computes them).
  const chosenMetrics = [
    ...new Set(
      [
        draft.primaryMetricKey,
        ...draft.metricKeys,
        ...draft.guardrails.map((g) => g.metricKey),
      ].filter((k) => k !== ""),
    ),
  ];
  const ramp = draft.ramp;
  const existingSteps = existing?.rampPlan?.steps ?? [];
  const general = save.isError && errors.length === 0;
  const title = existing === undefined ? "New experiment" : `Edit ${existing.name}`;

  return (
    <>
      <p className="exp-breadcrumb">
        <Link to="/experiments">Experiments</Link>
        {existing !== undefined && (
          <>
            {" / "}
            <Link to={`/experiments/${existing.id}`}>{existing.name}</Link>
          </>
        )}
      </p>
      <h1>{title}</h1>
      {existing !== undefined && (
        <p className="help">Saving creates version {existing.version + 1}.</p>
      )}

      {errors.length > 0 && (
        <div className="error" role="alert" tabIndex={-1} ref={summaryRef}>
          <h2 className="exp-summary-title">
            {errors.length === 1 ? "1 problem" : `${errors.length} problems`} to fix before saving
          </h2>
          <FieldErrorList errors={errors} />
        </div>
      )}
      {general && (
        <div tabIndex={-1} ref={summaryRef}>
          <ErrorMessage error={save.error} title="Could not save" />
        </div>
      )}

      <form onSubmit={submit} noValidate className="exp-form">
        <h2>About</h2>
        <Field label="Name" help="1–200 characters." error={errorFor(errors, "experiment.name")}>
          <input
            type="text"
            value={draft.name}
            maxLength={200}
            onChange={(e) => set("name", e.target.value)}
          />
        </Field>
        <Field
          label="Hypothesis and description"
          help="What you expect to happen and why; at most 10,000 characters."
          error={errorFor(errors, "experiment.description")}
        >
          <textarea
            rows={4}
            value={draft.description}
            onChange={(e) => set("description", e.target.value)}
          />
        </Field>
        {flags.isError && <ErrorMessage error={flags.error} title="Could not load flags" />}
        <Field
          label="Flag"
          help={
            existing !== undefined
              ? "The flag cannot change after creation."
              : flag !== undefined
                ? `Values are of type ${enumLabel(FlagType, flag.type)}.`
                : "The flag this experiment overrides."
          }
          error={errorFor(errors, "experiment.flag_key")}
        >
          <select
            value={draft.flagKey}
            disabled={existing !== undefined}
            onChange={(e) => set("flagKey", e.target.value)}
          >
            <option value="">{flags.isPending ? "Loading flags…" : "Choose a flag"}</option>
            {activeFlags.map((f) => (
              <option key={f.key} value={f.key}>
                {f.key} ({enumLabel(FlagType, f.type)})
              </option>
            ))}
          </select>
        </Field>
        {existing === undefined && (
          <DraftSimilar draft={draft} flagType={flagType} flagTags={flag?.tags ?? []} />
        )}

        <h2>Traffic</h2>
        <Field
          label="Participation (% of subjects)"
          help="Share of subjects that may enter the experiment, above 0 and at most 100; the variant weights add up to it."
          error={errorFor(errors, "experiment.audience_percent")}
        >
          <input
            type="number"
            step="any"
            inputMode="decimal"
            value={draft.audiencePercent}
            onChange={(e) => set("audiencePercent", e.target.value)}
          />
        </Field>

        <fieldset
          className="exp-fieldset"
          aria-describedby="exp-variants-help exp-variants-error"
          aria-invalid={exactError(errors, "experiment.variants") !== undefined ? true : undefined}
        >
          <legend>Variants</legend>
          <p id="exp-variants-help" className="help">
            2–20 variants, exactly one control. Weights are percent of all traffic: they now add up
            to {Math.round(weightSum * 100) / 100} % of a participation of{" "}
            {draft.audiencePercent || "0"} %.
          </p>
          <p id="exp-variants-error" className="field-error">
            {exactError(errors, "experiment.variants")}
          </p>
          {draft.variants.map((v, i) => {
            const n = i + 1;
            const rowError = exactError(errors, `experiment.variants[${i}]`);
            return (
              <fieldset key={i} className="exp-row">
                <legend>Variant {n}</legend>
                {rowError !== undefined && <p className="field-error">{rowError}</p>}
                <Field
                  label={`Variant ${n} key`}
                  error={errorFor(errors, `experiment.variants[${i}].key`)}
                >
                  <input
                    type="text"
                    value={v.key}
                    onChange={(e) => setVariant(i, { key: e.target.value })}
                  />
                </Field>
                <Field
                  label={`Variant ${n} value`}
                  error={errorFor(errors, `experiment.variants[${i}].value`)}
                >
                  {flagType === FlagType.BOOL ? (
                    <select
                      value={v.value}
                      onChange={(e) => setVariant(i, { value: e.target.value })}
                    >
                      <option value="">Choose</option>
                      <option value="true">true</option>
                      <option value="false">false</option>
                    </select>
                  ) : (
                    <input
                      type="text"
                      value={v.value}
                      onChange={(e) => setVariant(i, { value: e.target.value })}
                    />
                  )}
                </Field>
                <Field
                  label={`Variant ${n} weight`}
                  error={errorFor(errors, `experiment.variants[${i}].weight`)}
                >
                  <input
                    type="number"
                    step="any"
                    inputMode="decimal"
                    value={v.weight}
                    onChange={(e) => setVariant(i, { weight: e.target.value })}
                  />
                </Field>
                <div className="field exp-checkbox">
                  <label>
                    <input
                      type="radio"
                      name="control"
                      checked={draft.control === i}
                      onChange={() => set("control", i)}
                    />{" "}
                    Variant {n} is the control
                  </label>
                </div>
                <button
                  type="button"
                  onClick={() => removeVariant(i)}
                  disabled={draft.variants.length <= 2}
                >
                  Remove variant {n}
                </button>
              </fieldset>
            );
          })}
          <button
            type="button"
            disabled={draft.variants.length >= 20}
            onClick={() =>
              setDraft((d) => ({
                ...d,
                variants: [
                  ...d.variants,
                  { key: `variant_${d.variants.length + 1}`, value: "", weight: "" },
                ],
              }))
            }
          >
            Add variant
          </button>
        </fieldset>

        <Field
          label="Targeting rule"
          help='Optional; empty means every subject. Example: country IN ["RU","KZ"] AND app_version >= "1.6.0". segment("key") uses a saved segment, inlined when you save.'
          error={errorFor(errors, "experiment.targeting_rule")}
        >
          <textarea
            rows={2}
            value={draft.targetingRule}
            onChange={(e) => set("targetingRule", e.target.value)}
          />
        </Field>

        <h2>Metrics</h2>
        {metrics.isError && <ErrorMessage error={metrics.error} title="Could not load metrics" />}
        <Field
          label="Primary metric"
          help="The metric the decision is based on."
          error={errorFor(errors, "experiment.primary_metric_key")}
        >
          <select
            value={draft.primaryMetricKey}
            onChange={(e) => set("primaryMetricKey", e.target.value)}
          >
            <option value="">{metrics.isPending ? "Loading metrics…" : "Choose a metric"}</option>
            {activeMetrics.map((m) => (
              <option key={m.key} value={m.key}>
                {m.name === "" ? m.key : `${m.name} (${m.key})`}
              </option>
            ))}
          </select>
        </Field>
        <fieldset className="exp-fieldset" aria-describedby="exp-secondary-error">
          <legend>Secondary metrics</legend>
          <p id="exp-secondary-error" className="field-error">
            {errorFor(errors, "experiment.metric_keys")}
          </p>
          <div className="exp-checks">
            {activeMetrics
              .filter((m) => m.key !== draft.primaryMetricKey)
              .map((m) => (
                <label key={m.key} className="exp-check">
                  <input
                    type="checkbox"
                    checked={draft.metricKeys.includes(m.key)}
                    onChange={(e) =>
                      set(
                        "metricKeys",
                        e.target.checked
                          ? [...draft.metricKeys, m.key]
                          : draft.metricKeys.filter((k) => k !== m.key),
                      )
                    }
                  />{" "}
                  {m.name === "" ? m.key : `${m.name} (${m.key})`}
                </label>
              ))}
          </div>
        </fieldset>

        <h2>Guardrails</h2>
        <p className="help">
          Rules that pause or roll back the experiment on their own when a metric goes the wrong
          way.
        </p>
        <p className="field-error">{exactError(errors, "experiment.guardrails")}</p>
        {draft.guardrails.map((g, i) => {
          const n = i + 1;
          const at = (name: string) => errorFor(errors, `experiment.guardrails[${i}].${name}`);
          return (
            <fieldset key={i} className="exp-row">
              <legend>Guardrail {n}</legend>
              <Field label={`Guardrail ${n} metric`} error={at("metric_key")}>
                <select
                  value={g.metricKey}
                  onChange={(e) => setGuardrail(i, { metricKey: e.target.value })}
                >
                  <option value="">Choose a metric</option>
                  {activeMetrics.map((m) => (
                    <option key={m.key} value={m.key}>
                      {m.key}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label={`Guardrail ${n} threshold`} error={at("threshold")}>
                <input
                  type="number"
                  step="any"
                  value={g.threshold}
                  onChange={(e) => setGuardrail(i, { threshold: e.target.value })}
                />
              </Field>
              <Field label={`Guardrail ${n} direction`} error={at("direction")}>
                <select
                  value={g.direction}
                  onChange={(e) =>
                    setGuardrail(i, { direction: Number(e.target.value) as Direction })
                  }
                >
                  <option value={Direction.INCREASE_IS_BAD}>increase is bad</option>
                  <option value={Direction.DECREASE_IS_BAD}>decrease is bad</option>
                </select>
              </Field>
              <Field label={`Guardrail ${n} action`} error={at("action")}>
                <select
                  value={g.action}
                  onChange={(e) =>
                    setGuardrail(i, { action: Number(e.target.value) as GuardrailAction })
                  }
                >
                  <option value={GuardrailAction.PAUSE}>pause</option>
                  <option value={GuardrailAction.ROLLBACK}>pause and roll back to control</option>
                </select>
              </Field>
              <Field
                label={`Guardrail ${n} window (seconds)`}
                help="60–604,800."
                error={at("window_seconds")}
              >
                <input
                  type="number"
                  step="1"
                  value={g.windowSeconds}
                  onChange={(e) => setGuardrail(i, { windowSeconds: e.target.value })}
                />
              </Field>
              <Field
                label={`Guardrail ${n} minimum sample`}
                help="0 means no minimum."
                error={at("min_sample_size")}
              >
                <input
                  type="number"
                  step="1"
                  value={g.minSampleSize}
                  onChange={(e) => setGuardrail(i, { minSampleSize: e.target.value })}
                />
              </Field>
              <button
                type="button"
                onClick={() =>
                  setDraft((d) => ({ ...d, guardrails: d.guardrails.filter((_, j) => j !== i) }))
                }
              >
                Remove guardrail {n}
              </button>
            </fieldset>
          );
        })}
        <div className="actions">
          <button
            type="button"
            disabled={draft.guardrails.length >= 20}
            onClick={() =>
              setDraft((d) => ({ ...d, guardrails: [...d.guardrails, emptyGuardrail()] }))
            }
          >
            Add guardrail
          </button>
        </div>

        <h2>Autopilot ramp</h2>
        <p id="exp-ramp-about" className="help">
          Optional: the experiment starts with a small share of its audience and the autopilot moves
          it up one step at a time while the gates pass; when a safety gate fails, the plan's safety
          action runs.
        </p>
        <div className="field exp-checkbox">
          <label>
            <input
              type="checkbox"
              checked={ramp.enabled}
              aria-describedby="exp-ramp-about"
              onChange={(e) => setRamp({ enabled: e.target.checked })}
            />{" "}
            Ramp the audience step by step
          </label>
        </div>
        {!ramp.enabled && existingSteps.length > 0 && (
          <p className="help">
            Saving removes the draft&apos;s ramp plan ({stepTrail(existingSteps)}).
          </p>
        )}
        {ramp.enabled && (
          <fieldset
            className="exp-fieldset"
            aria-describedby="exp-ramp-error"
            aria-invalid={
              exactError(errors, "experiment.ramp_plan") !== undefined ? true : undefined
            }
          >
            <legend>Ramp plan</legend>
            <p id="exp-ramp-error" className="field-error">
              {exactError(errors, "experiment.ramp_plan")}
            </p>
            <Field
              label="Steps (% of the audience)"
              help={`Comma-separated, for example 1, 5, 10, 25, 50, 100: 1–${RAMP_LIMITS.maxSteps} steps, each greater than the one before, above 0 and at most 100 with at most two decimals. The experiment starts at the first.`}
              error={allErrorsFor(errors, "experiment.ramp_plan.steps")}
            >
              <input
                type="text"
                inputMode="decimal"
                autoComplete="off"
                value={ramp.steps}
                onChange={(e) => setRamp({ steps: e.target.value })}
              />
            </Field>
            <Field
              label="Minimum time on each step (minutes)"
              help="0–43,200 (30 days); 0 means no minimum. The autopilot waits at least this long before moving up."
              error={errorFor(errors, "experiment.ramp_plan.gates.min_step_seconds")}
            >
              <input
                type="number"
                step="any"
                min="0"
                inputMode="decimal"
                value={ramp.minStepMinutes}
                onChange={(e) => setRamp({ minStepMinutes: e.target.value })}
              />
            </Field>
            <Field
              label="Minimum exposures on each step"
              help="All variants together; 0 means no minimum."
              error={errorFor(errors, "experiment.ramp_plan.gates.min_exposures")}
            >
              <input
                type="number"
                step="1"
                min="0"
                value={ramp.minExposures}
                onChange={(e) => setRamp({ minExposures: e.target.value })}
              />
            </Field>
            <Field
              label="Minimum exposures per variant on each step"
              help="In every variant; 0 means no minimum. Ramp thresholds are judged only once every variant has this many."
              error={errorFor(errors, "experiment.ramp_plan.gates.min_exposures_per_variant")}
            >
              <input
                type="number"
                step="1"
                min="0"
                value={ramp.minExposuresPerVariant}
                onChange={(e) => setRamp({ minExposuresPerVariant: e.target.value })}
              />
            </Field>

            <h3 className="exp-subtitle">Ramp thresholds</h3>
            <p className="help">
              A treatment beyond a threshold runs the safety action (the guardrails are checked on
              every step too). Metrics: the experiment&apos;s primary, secondary and guardrail
              metrics
              {chosenMetrics.length === 0 ? " (none chosen yet)" : ""}. At most{" "}
              {RAMP_LIMITS.maxThresholds}.
            </p>
            <p className="field-error">
              {exactError(errors, "experiment.ramp_plan.gates.thresholds")}
            </p>
            {ramp.thresholds.map((t, i) => {
              const n = i + 1;
              const at = (name: string) =>
                errorFor(errors, `experiment.ramp_plan.gates.thresholds[${i}].${name}`);
              const options =
                t.metricKey === "" || chosenMetrics.includes(t.metricKey)
                  ? chosenMetrics
                  : [...chosenMetrics, t.metricKey];
              return (
                <fieldset key={i} className="exp-row">
                  <legend>Ramp threshold {n}</legend>
                  <Field label={`Ramp threshold ${n} metric`} error={at("metric_key")}>
                    <select
                      value={t.metricKey}
                      onChange={(e) => setRampThreshold(i, { metricKey: e.target.value })}
                    >
                      <option value="">Choose a metric</option>
                      {options.map((key) => (
                        <option key={key} value={key}>
                          {chosenMetrics.includes(key)
                            ? metricName(key)
                            : `${key} (not a metric of this experiment)`}
                        </option>
                      ))}
                    </select>
                  </Field>
                  <Field label={`Ramp threshold ${n} direction`} error={at("direction")}>
                    <select
                      value={t.direction}
                      onChange={(e) =>
                        setRampThreshold(i, { direction: Number(e.target.value) as Direction })
                      }
                    >
                      <option value={Direction.INCREASE_IS_BAD}>
                        increase is bad (fails above)
                      </option>
                      <option value={Direction.DECREASE_IS_BAD}>
                        decrease is bad (fails below)
                      </option>
                    </select>
                  </Field>
                  <Field
                    label={`Ramp threshold ${n} value`}
                    help="In the metric's unit (0.02 for 2 %)."
                    error={at("threshold")}
                  >
                    <input
                      type="number"
                      step="any"
                      value={t.threshold}
                      onChange={(e) => setRampThreshold(i, { threshold: e.target.value })}
                    />
                  </Field>
                  <button
                    type="button"
                    onClick={() =>
                      setRamp({ thresholds: ramp.thresholds.filter((_, j) => j !== i) })
                    }
                  >
                    Remove ramp threshold {n}
                  </button>
                </fieldset>
              );
            })}
            <div className="actions">
              <button
                type="button"
                disabled={ramp.thresholds.length >= RAMP_LIMITS.maxThresholds}
                onClick={() => setRamp({ thresholds: [...ramp.thresholds, emptyRampThreshold()] })}
              >
                Add ramp threshold
              </button>
            </div>

            <h3 className="exp-subtitle">Data health</h3>
            <div className="field exp-checkbox">
              <label>
                <input
                  type="checkbox"
                  checked={ramp.srmHolds}
                  aria-describedby="exp-ramp-srm-help"
                  onChange={(e) => setRamp({ srmHolds: e.target.checked })}
                />{" "}
                A sample ratio mismatch holds the ramp
              </label>
              <span id="exp-ramp-srm-help" className="help">
                A mismatch over the step (p &lt; 0.001) keeps the ramp where it is until it clears.
              </span>
            </div>
            <Field
              label="Maximum traffic skew (%)"
              help="Optional; empty means not checked. A variant whose share of the step's subjects is off its weight's share by more than this (relative: 10 means 10 % of that share) holds the ramp. Above 0, at most 100."
              error={errorFor(errors, "experiment.ramp_plan.gates.max_traffic_skew")}
            >
              <input
                type="number"
                step="any"
                inputMode="decimal"
                value={ramp.maxTrafficSkewPercent}
                onChange={(e) => setRamp({ maxTrafficSkewPercent: e.target.value })}
              />
            </Field>
            <Field
              label="Maximum rejected events (% of received)"
              help="Optional; empty means not checked. More rejected events than this share of those received over the step holds the ramp. 0–100."
              error={errorFor(errors, "experiment.ramp_plan.gates.max_rejected_share")}
            >
              <input
                type="number"
                step="any"
                inputMode="decimal"
                value={ramp.maxRejectedSharePercent}
                onChange={(e) => setRamp({ maxRejectedSharePercent: e.target.value })}
              />
            </Field>

            <h3 className="exp-subtitle">On a safety failure</h3>
            <Field
              label="Safety action"
              help="What runs when a ramp threshold is crossed or a guardrail fires during a step; the ramp is then held until someone resumes the autopilot."
              error={errorFor(errors, "experiment.ramp_plan.safety_action")}
            >
              <select
                value={ramp.safetyAction}
                onChange={(e) =>
                  setRamp({ safetyAction: Number(e.target.value) as RampSafetyAction })
                }
              >
                {SAFETY_ACTIONS.map((a) => (
                  <option key={a} value={a}>
                    {safetyActionLabel(a)}
                  </option>
                ))}
              </select>
            </Field>
          </fieldset>
        )}

        <h2>Conflicts</h2>
        <Field
          label="Conflict domains"
          help="Comma-separated names; a subject enters at most one running experiment per shared domain."
          error={errorFor(errors, "experiment.conflict_domains")}
        >
          <input
            type="text"
            value={draft.conflictDomains}
            onChange={(e) => set("conflictDomains", e.target.value)}
          />
        </Field>
        <Field
          label="Priority"
          help="Whole number from −1,000,000 to 1,000,000; higher wins domain conflicts."
          error={errorFor(errors, "experiment.priority")}
        >
          <input
            type="number"
            step="1"
            value={draft.priority}
            onChange={(e) => set("priority", e.target.value)}
          />
        </Field>

        <FormActions
          submitLabel={existing === undefined ? "Create draft" : "Save draft"}
          busy={save.isPending}
          cancelTo={existing === undefined ? "/experiments" : `/experiments/${existing.id}`}
        />
        {save.isPending && (
          <p className="status" role="status">
            Saving…
          </p>
        )}
      </form>
    </>
  );
}
