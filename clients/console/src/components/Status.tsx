/** Loading, empty and error states: every page shows one of these instead of a blank. */
import { describeError } from "../api/errors.js";

export function Loading(props: { what: string }) {
  return (
    <p className="status" role="status" aria-live="polite">
      Loading {props.what}…
    </p>
  );
}

export function ErrorMessage(props: { error: unknown; title?: string }) {
  return (
    <div className="error" role="alert">
      {props.title !== undefined && <strong>{props.title}: </strong>}
      {describeError(props.error)}
    </div>
  );
}

export function Empty(props: { children: React.ReactNode }) {
  return <p className="empty">{props.children}</p>;
}
