/**
 * The learnings filter form, shared by the library and the meta-analysis
 * view. It edits a copy and applies it on submit (Enter in any field, or the
 * button), so typing a comma-separated list does not reload on every key.
 * Problems found in the browser or named by the server are shown at the field.
 */
import { useState, type FormEvent } from "react";
import { Outcome } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { errorFor, type FieldError } from "../../api/errors.js";
import { Field } from "../Field.js";
import { outcomeWords } from "../../api/learnings.js";
import {
  emptyFilter,
  OUTCOMES,
  splitList,
  writeFilter,
  type LearningFilter,
  type TriState,
} from "./filters.js";

/** Server field names with the meta request's "filter." prefix dropped. */
export function filterFieldErrors(errors: readonly FieldError[]): FieldError[] {
  return errors.map((e) => ({ ...e, field: e.field.replace(/^filter\./, "") }));
}

interface Texts {
  query: string;
  flagKey: string;
  ownerId: string;
  outcome: Outcome;
  from: string;
  to: string;
  countries: string;
  platforms: string;
  primaryMetricKey: string;
  tags: string;
  guardrailFired: TriState;
  needsWritingUp: TriState;
}

function texts(f: LearningFilter): Texts {
  return {
    ...f,
    countries: f.countries.join(", "),
    platforms: f.platforms.join(", "),
    tags: f.tags.join(", "),
  };
}

function filterOf(t: Texts): LearningFilter {
  return {
    ...t,
    countries: splitList(t.countries),
    platforms: splitList(t.platforms),
    tags: splitList(t.tags),
  };
}

export function LearningFilters(props: {
  filter: LearningFilter;
  onApply(filter: LearningFilter): void;
  errors: readonly FieldError[];
  /** The accessible name of the search region. */
  label: string;
  submitLabel?: string;
}) {
  const [form, setForm] = useState<Texts>(() => texts(props.filter));
  // The URL changed under the form (back, forward, a link): show what it says now.
  const filterKey = writeFilter(props.filter).toString();
  const [shownKey, setShownKey] = useState(filterKey);
  if (shownKey !== filterKey) {
    setShownKey(filterKey);
    setForm(texts(props.filter));
  }
  const errors = filterFieldErrors(props.errors);
  const at = (...fields: string[]) =>
    fields.map((f) => errorFor(errors, f)).find((e) => e !== undefined);

  function set<K extends keyof Texts>(key: K, value: Texts[K]) {
    setForm((f) => ({ ...f, [key]: value }));
  }
  function submit(event: FormEvent) {
    event.preventDefault();
    props.onApply(filterOf(form));
  }

  return (
    <form className="learn-filters" role="search" aria-label={props.label} onSubmit={submit}>
      <Field
        label="Search learnings"
        help='Words match in any order; "a quoted phrase" matches as a phrase; -word excludes. Searches names, hypotheses, results, actions, notes and tags.'
        error={at("query")}
      >
        <input
          type="search"
          value={form.query}
          maxLength={500}
          onChange={(e) => set("query", e.target.value)}
        />
      </Field>
      <div className="learn-filter-grid">
        <Field label="Flag key" error={at("flag_key")}>
          <input
            type="text"
            value={form.flagKey}
            onChange={(e) => set("flagKey", e.target.value)}
          />
        </Field>
        <Field label="Owner (user id)" error={at("owner_id")}>
          <input
            type="text"
            value={form.ownerId}
            onChange={(e) => set("ownerId", e.target.value)}
          />
        </Field>
        <Field label="Outcome" error={at("outcome")}>
          <select
            value={form.outcome}
            onChange={(e) => set("outcome", Number(e.target.value) as Outcome)}
          >
            <option value={Outcome.UNSPECIFIED}>Any outcome</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {outcomeWords(o).label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Completed from (UTC)" error={at("completed_after")}>
          <input type="date" value={form.from} onChange={(e) => set("from", e.target.value)} />
        </Field>
        <Field label="Completed until (UTC, inclusive)" error={at("completed_before")}>
          <input type="date" value={form.to} onChange={(e) => set("to", e.target.value)} />
        </Field>
        <Field label="Primary metric key" error={at("primary_metric_key", "metric_key")}>
          <input
            type="text"
            value={form.primaryMetricKey}
            onChange={(e) => set("primaryMetricKey", e.target.value)}
          />
        </Field>
        <Field label="Countries" help="Comma-separated; any of them." error={at("countries")}>
          <input
            type="text"
            value={form.countries}
            onChange={(e) => set("countries", e.target.value)}
          />
        </Field>
        <Field
          label="Platforms"
          help="Comma-separated; any of them."
          error={at("platforms", "platform")}
        >
          <input
            type="text"
            value={form.platforms}
            onChange={(e) => set("platforms", e.target.value)}
          />
        </Field>
        <Field label="Tags" help="Comma-separated; all of them." error={at("tags")}>
          <input type="text" value={form.tags} onChange={(e) => set("tags", e.target.value)} />
        </Field>
        <Field label="A guardrail fired" error={at("guardrail_fired")}>
          <select
            value={form.guardrailFired}
            onChange={(e) => set("guardrailFired", e.target.value as TriState)}
          >
            <option value="any">Any</option>
            <option value="yes">Yes, a guardrail fired</option>
            <option value="no">No guardrail fired</option>
          </select>
        </Field>
        <Field label="Write-up" error={at("needs_writing_up")}>
          <select
            value={form.needsWritingUp}
            onChange={(e) => set("needsWritingUp", e.target.value as TriState)}
          >
            <option value="any">Any</option>
            <option value="yes">Needs writing up</option>
            <option value="no">Written up</option>
          </select>
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary">
          {props.submitLabel ?? "Search"}
        </button>
        <button
          type="button"
          onClick={() => {
            setForm(texts(emptyFilter()));
            props.onApply(emptyFilter());
          }}
        >
          Clear filters
        </button>
      </div>
    </form>
  );
}
