/** Small form pieces shared by the flag and catalog editors. */
import { useId, useState } from "react";
import { Field } from "../Field.js";

/** A checkbox with its label after it, help text and a server error tied to it. */
export function CheckboxField(props: {
  label: string;
  checked: boolean;
  onChange(checked: boolean): void;
  help?: string;
  error?: string | undefined;
  name?: string;
}) {
  const id = useId();
  const describedBy = [
    props.help !== undefined ? `${id}-help` : "",
    props.error !== undefined ? `${id}-error` : "",
  ]
    .filter(Boolean)
    .join(" ");
  return (
    <div className="field checkbox-field">
      <label htmlFor={id}>
        <input
          id={id}
          type="checkbox"
          name={props.name}
          checked={props.checked}
          onChange={(e) => props.onChange(e.target.checked)}
          aria-invalid={props.error !== undefined ? true : undefined}
          aria-describedby={describedBy || undefined}
        />{" "}
        {props.label}
      </label>
      {props.help !== undefined && (
        <span id={`${id}-help`} className="help">
          {props.help}
        </span>
      )}
      {props.error !== undefined && (
        <span id={`${id}-error`} className="field-error">
          {props.error}
        </span>
      )}
    </div>
  );
}

/** The archive panel: explains what archiving does and asks once more before doing it. */
export function ArchivePanel(props: {
  what: string;
  itemKey: string;
  explanation: string;
  busy: boolean;
  onArchive(): Promise<void> | void;
}) {
  const [confirming, setConfirming] = useState(false);
  const headingId = useId();
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h2 id={headingId}>Archive</h2>
      <p>{props.explanation}</p>
      {confirming ? (
        <div className="actions" role="group" aria-label="Confirm archiving">
          <button
            type="button"
            className="danger"
            disabled={props.busy}
            onClick={() => {
              void Promise.resolve(props.onArchive()).finally(() => setConfirming(false));
            }}
          >
            Yes, archive {props.itemKey}
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Keep the {props.what}
          </button>
        </div>
      ) : (
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Archive {props.what}
        </button>
      )}
    </section>
  );
}

/** The record's key: editable while creating, read-only after. */
export function KeyField(props: {
  isNew: boolean;
  /** Help while creating: what a key may contain, with an example. */
  newHelp: string;
  value: string;
  error: string | undefined;
  required?: boolean;
  onChange(value: string): void;
}) {
  return (
    <Field
      label="Key"
      help={props.isNew ? props.newHelp : "The key never changes."}
      error={props.error}
    >
      <input
        name="key"
        value={props.value}
        readOnly={!props.isNew}
        autoComplete="off"
        spellCheck={false}
        required={props.required}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </Field>
  );
}

export function DescriptionField(props: {
  value: string;
  error: string | undefined;
  onChange(value: string): void;
}) {
  return (
    <Field label="Description" help="Optional, at most 2,000 characters." error={props.error}>
      <textarea
        name="description"
        rows={3}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      />
    </Field>
  );
}

/** Key, name and description: the fields every catalog entry starts with. */
export function KeyNameFields(props: {
  isNew: boolean;
  newKeyHelp: string;
  form: { key: string; name: string; description: string };
  set(field: "key" | "name" | "description", value: string): void;
  err(field: string): string | undefined;
}) {
  const { form, set, err } = props;
  return (
    <>
      <KeyField
        isNew={props.isNew}
        newHelp={props.newKeyHelp}
        value={form.key}
        error={err("key")}
        onChange={(v) => set("key", v)}
      />
      <Field label="Name" help="Human-readable, 1–200 characters." error={err("name")}>
        <input name="name" value={form.name} onChange={(e) => set("name", e.target.value)} />
      </Field>
      <DescriptionField
        value={form.description}
        error={err("description")}
        onChange={(v) => set("description", v)}
      />
    </>
  );
}
