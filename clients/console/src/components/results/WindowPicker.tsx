/** Window choice: experiment so far, last 24 h, last 7 d, or a custom UTC range to the minute. */
import { useId } from "react";
import {
  WINDOW_CHOICES,
  fromLocalInput,
  toLocalInput,
  windowProblem,
  type ViewState,
  type WindowChoice,
} from "../../format/window.js";

export function WindowPicker(props: {
  view: ViewState;
  onChange(next: ViewState): void;
  /** Prefill for a new custom window (the window currently shown). */
  suggestFrom?: Date;
  suggestTo?: Date;
}) {
  const id = useId();
  const { view } = props;
  const problem = windowProblem(view);
  const choose = (choice: WindowChoice) => {
    const next: ViewState = { ...view, window: choice };
    if (choice === "custom") {
      next.from = view.from ?? props.suggestFrom;
      next.to = view.to ?? props.suggestTo;
    } else {
      delete next.from;
      delete next.to;
    }
    props.onChange(next);
  };
  const setBound = (bound: "from" | "to", value: string) => {
    const next: ViewState = { ...view };
    const d = fromLocalInput(value);
    if (d === undefined) delete next[bound];
    else next[bound] = d;
    props.onChange(next);
  };
  return (
    <>
      <div className="field">
        <label htmlFor={`${id}-window`}>Window</label>
        <select
          id={`${id}-window`}
          value={view.window}
          onChange={(e) => choose(e.target.value as WindowChoice)}
        >
          {WINDOW_CHOICES.map((c) => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
        </select>
      </div>
      {view.window === "custom" && (
        <>
          <div className="field">
            <label htmlFor={`${id}-from`}>From (UTC)</label>
            <input
              id={`${id}-from`}
              type="datetime-local"
              step={60}
              value={toLocalInput(view.from)}
              aria-describedby={`${id}-hint`}
              onChange={(e) => setBound("from", e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-to`}>To (UTC)</label>
            <input
              id={`${id}-to`}
              type="datetime-local"
              step={60}
              value={toLocalInput(view.to)}
              aria-describedby={`${id}-hint`}
              aria-invalid={problem !== undefined}
              onChange={(e) => setBound("to", e.target.value)}
            />
          </div>
          <p id={`${id}-hint`} className="help window-hint">
            Times are UTC. Empty start: the experiment&apos;s start; empty end: now (live).
          </p>
          {problem !== undefined && (
            <p className="field-error" role="alert">
              {problem}
            </p>
          )}
        </>
      )}
    </>
  );
}
