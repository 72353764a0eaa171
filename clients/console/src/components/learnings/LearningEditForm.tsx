/**
 * Editing a learning (owner or admin): the editable fields, saved with
 * UpsertLearning under an optimistic lock on the version shown. A
 * concurrent edit (ABORTED) says so and offers to reload; every field the
 * server names is marked at the field and listed in a summary.
 */
import { useMemo, useRef, useState, type FormEvent } from "react";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { useTransport } from "@connectrpc/connect-query";
import { useMutation } from "@tanstack/react-query";
import {
  LearningService,
  type Learning,
} from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { errorFor, fieldErrors, type FieldError } from "../../api/errors.js";
import { useInvalidateLearnings } from "../../api/learnings.js";
import { Field } from "../Field.js";
import { FieldErrorList } from "../ErrorSummary.js";
import { ErrorMessage } from "../Status.js";
import {
  draftFromLearning,
  draftToLearning,
  learningFieldErrors,
  type LearningDraft,
  type LinkDraft,
} from "./edit.js";

const MAX_LINKS = 20;

export function LearningEditForm(props: {
  learning: Learning;
  onSaved(saved: Learning | undefined): void;
  onCancel(): void;
  onReload(): void;
}) {
  const { learning } = props;
  const transport = useTransport();
  const client = useMemo(() => createClient(LearningService, transport), [transport]);
  const invalidate = useInvalidateLearnings();
  const summaryRef = useRef<HTMLDivElement>(null);
  const [draft, setDraft] = useState<LearningDraft>(() => draftFromLearning(learning));
  const [errors, setErrors] = useState<FieldError[]>([]);

  const save = useMutation({
    mutationFn: async (): Promise<{ problems: FieldError[] } | { saved: Learning | undefined }> => {
      const { learning: edited, problems } = draftToLearning(draft, learning.experimentId);
      if (problems.length > 0) return { problems };
      const response = await client.upsertLearning({
        learning: edited,
        expectedVersion: learning.version,
      });
      return { saved: response.learning };
    },
    onMutate: () => setErrors([]),
    onSuccess: async (result) => {
      if ("problems" in result) {
        setErrors(result.problems);
        setTimeout(() => summaryRef.current?.focus(), 0);
        return;
      }
      await invalidate();
      props.onSaved(result.saved);
    },
    onError: (error) => {
      setErrors(learningFieldErrors(fieldErrors(error)));
      setTimeout(() => summaryRef.current?.focus(), 0);
    },
  });

  function set<K extends keyof LearningDraft>(key: K, value: LearningDraft[K]) {
    setDraft((d) => ({ ...d, [key]: value }));
  }
  function setLink(i: number, change: Partial<LinkDraft>) {
    setDraft((d) => ({ ...d, links: d.links.map((k, j) => (j === i ? { ...k, ...change } : k)) }));
  }
  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate();
  }

  const aborted = save.isError && ConnectError.from(save.error).code === Code.Aborted;
  const general = save.isError && errors.length === 0 && !aborted;
  const at = (field: string) => errorFor(errors, field);

  return (
    <section aria-labelledby="learn-edit-heading" className="panel learn-edit">
      <h2 id="learn-edit-heading">Edit learning</h2>
      <p className="help">
        Saving creates version {learning.version + 1}. Fields from the experiment (outcome, metrics,
        effect, targeting) cannot be edited.
      </p>
      {errors.length > 0 && (
        <div className="error" role="alert" tabIndex={-1} ref={summaryRef}>
          <h3 className="exp-summary-title">
            {errors.length === 1 ? "1 problem" : `${errors.length} problems`} to fix before saving
          </h3>
          <FieldErrorList errors={errors} />
        </div>
      )}
      {aborted && (
        <div className="error" role="alert" tabIndex={-1} ref={summaryRef}>
          <p className="error-general">
            Someone else edited this learning since you opened it (you edited version{" "}
            {learning.version}). Reload to see their changes, then make yours again; what you typed
            here is discarded on reload.
          </p>
          <div className="actions">
            <button type="button" onClick={props.onReload}>
              Reload the learning
            </button>
          </div>
        </div>
      )}
      {general && (
        <div tabIndex={-1} ref={summaryRef}>
          <ErrorMessage error={save.error} title="Could not save" />
        </div>
      )}
      <form onSubmit={submit} noValidate>
        <Field label="Hypothesis" help="At most 10,000 characters." error={at("hypothesis")}>
          <textarea
            rows={3}
            value={draft.hypothesis}
            onChange={(e) => set("hypothesis", e.target.value)}
          />
        </Field>
        <Field
          label="Result"
          help="What was found; at most 10,000 characters."
          error={at("result")}
        >
          <textarea rows={4} value={draft.result} onChange={(e) => set("result", e.target.value)} />
        </Field>
        <Field
          label="Action"
          help='What was done afterwards, e.g. "rolled out B to 100 %"; at most 2,000 characters.'
          error={at("action")}
        >
          <textarea
            rows={2}
            maxLength={2000}
            value={draft.action}
            onChange={(e) => set("action", e.target.value)}
          />
        </Field>
        <Field label="Notes" help="Free notes; at most 10,000 characters." error={at("notes")}>
          <textarea rows={5} value={draft.notes} onChange={(e) => set("notes", e.target.value)} />
        </Field>
        <div className="learn-filter-grid">
          <Field
            label="Tags"
            help="Comma-separated; at most 20, each 1–50 characters."
            error={at("tags")}
          >
            <input type="text" value={draft.tags} onChange={(e) => set("tags", e.target.value)} />
          </Field>
          <Field
            label="Platforms"
            help="Comma-separated, e.g. ios, android, web; at most 10."
            error={at("platforms")}
          >
            <input
              type="text"
              value={draft.platforms}
              onChange={(e) => set("platforms", e.target.value)}
            />
          </Field>
          <Field label="Countries" help="Comma-separated; at most 50." error={at("countries")}>
            <input
              type="text"
              value={draft.countries}
              onChange={(e) => set("countries", e.target.value)}
            />
          </Field>
          <Field label="App versions" help="Comma-separated; at most 20." error={at("versions")}>
            <input
              type="text"
              value={draft.versions}
              onChange={(e) => set("versions", e.target.value)}
            />
          </Field>
          <Field
            label="Planned duration (days)"
            help="0–3,650; empty means not stated."
            error={at("planned_days")}
          >
            <input
              type="number"
              min={0}
              max={3650}
              step={1}
              inputMode="numeric"
              value={draft.plannedDays}
              onChange={(e) => set("plannedDays", e.target.value)}
            />
          </Field>
        </div>
        <fieldset className="exp-fieldset">
          <legend>Links</legend>
          <p className="help">Dashboards, documents, tickets: at most 20, absolute http(s) URLs.</p>
          {exactError(errors, "links") !== undefined && (
            <p className="field-error">{exactError(errors, "links")}</p>
          )}
          {draft.links.map((k, i) => {
            const n = i + 1;
            return (
              <fieldset key={i} className="exp-row">
                <legend>Link {n}</legend>
                <Field label={`Link ${n} title`} error={at(`links[${i}].title`)}>
                  <input
                    type="text"
                    value={k.title}
                    maxLength={200}
                    onChange={(e) => setLink(i, { title: e.target.value })}
                  />
                </Field>
                <Field label={`Link ${n} URL`} error={at(`links[${i}].url`)}>
                  <input
                    type="url"
                    value={k.url}
                    onChange={(e) => setLink(i, { url: e.target.value })}
                  />
                </Field>
                <button
                  type="button"
                  onClick={() =>
                    setDraft((d) => ({ ...d, links: d.links.filter((_, j) => j !== i) }))
                  }
                >
                  Remove link {n}
                </button>
              </fieldset>
            );
          })}
          <button
            type="button"
            disabled={draft.links.length >= MAX_LINKS}
            onClick={() => setDraft((d) => ({ ...d, links: [...d.links, { title: "", url: "" }] }))}
          >
            Add link
          </button>
        </fieldset>
        <div className="actions">
          <button type="submit" className="primary" disabled={save.isPending}>
            Save learning
          </button>
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
        {save.isPending && (
          <p className="status" role="status">
            Saving…
          </p>
        )}
      </form>
    </section>
  );
}

/** The error for exactly this field (not its sub-fields). */
function exactError(errors: FieldError[], field: string): string | undefined {
  const hits = errors.filter((e) => e.field === field);
  return hits.length === 0 ? undefined : hits.map((e) => `${e.field}: ${e.message}`).join("; ");
}
