/** The experiment's guardrail triggers, newest first. */
import type { GuardrailTrigger } from "../../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { Empty, ErrorMessage, Loading } from "../Status.js";
import { TriggersTable } from "../catalog/TriggersTable.js";

export function TriggerList(props: {
  triggers: readonly GuardrailTrigger[] | undefined;
  error?: unknown;
  loading?: boolean;
}) {
  const heading = <h2 id="guardrail-triggers">Guardrail triggers</h2>;
  let body;
  if (props.error !== undefined && props.error !== null)
    body = <ErrorMessage error={props.error} />;
  else if (props.loading === true) body = <Loading what="guardrail triggers" />;
  else if (props.triggers === undefined || props.triggers.length === 0)
    body = <Empty>No guardrail has fired for this experiment.</Empty>;
  else body = <TriggersTable triggers={props.triggers} layout="experiment" />;
  return (
    <section aria-labelledby="guardrail-triggers">
      {heading}
      {body}
    </section>
  );
}
