import { Link } from "react-router";

/** A form's submit button and its Cancel link. */
export function FormActions(props: { submitLabel: string; busy: boolean; cancelTo: string }) {
  return (
    <div className="actions">
      <button type="submit" className="primary" disabled={props.busy}>
        {props.submitLabel}
      </button>
      <Link className="button" to={props.cancelTo}>
        Cancel
      </Link>
    </div>
  );
}
