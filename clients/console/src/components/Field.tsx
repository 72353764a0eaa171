/**
 * A labelled form field with its help text and the server's error for it.
 * The error is tied to the input with aria-describedby and aria-invalid.
 */
import { useId, type ReactElement, cloneElement } from "react";

export function Field(props: {
  label: string;
  help?: string;
  error?: string | undefined;
  children: ReactElement<Record<string, unknown>>;
}) {
  const id = useId();
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const describedBy = [
    props.help !== undefined ? helpId : "",
    props.error !== undefined ? errorId : "",
  ]
    .filter(Boolean)
    .join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {cloneElement(props.children, {
        id,
        "aria-invalid": props.error !== undefined ? true : undefined,
        "aria-describedby": describedBy || undefined,
      })}
      {props.help !== undefined && (
        <span id={helpId} className="help">
          {props.help}
        </span>
      )}
      {props.error !== undefined && (
        <span id={errorId} className="field-error">
          {props.error}
        </span>
      )}
    </div>
  );
}
