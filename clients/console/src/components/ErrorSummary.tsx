/** Server field errors as a list: "<field>: message". */
export function FieldErrorList(props: { errors: readonly { field: string; message: string }[] }) {
  return (
    <ul>
      {props.errors.map((e, i) => (
        <li key={i}>
          <code>{e.field}</code>: {e.message}
        </li>
      ))}
    </ul>
  );
}

/** A summary of form errors for screen readers and sighted users, next to the submit button. */
export function ErrorSummary(props: {
  errors: { field: string; message: string }[];
  general?: string | undefined;
}) {
  if (props.errors.length === 0 && props.general === undefined) return null;
  return (
    <div className="error" role="alert">
      {props.general !== undefined && <p className="error-general">{props.general}</p>}
      {props.errors.length > 0 && (
        <>
          <p className="error-general">
            Please correct {props.errors.length === 1 ? "this field" : "these fields"}:
          </p>
          <FieldErrorList errors={props.errors} />
        </>
      )}
    </div>
  );
}
