/** /triggers: guardrail breaches across experiments and what Lotty did about them. */
import { useMemo } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { GuardrailService } from "../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { ExperimentService } from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { Pager, usePager } from "../components/Pager.js";
import { TriggersTable } from "../components/catalog/TriggersTable.js";

export default function TriggersPage() {
  const [params] = useSearchParams();
  const experimentId = params.get("experiment") ?? "";
  return <Triggers key={experimentId} experimentId={experimentId} />;
}

function Triggers(props: { experimentId: string }) {
  const pager = usePager();
  const triggers = useQuery(GuardrailService.method.listGuardrailTriggers, {
    experimentId: props.experimentId,
    pageSize: 50,
    pageToken: pager.token,
  });
  // Names for the experiment links; one call, newest first.
  const experiments = useQuery(ExperimentService.method.listExperiments, { pageSize: 500 });
  const names = useMemo(
    () => new Map((experiments.data?.experiments ?? []).map((e) => [e.id, e.name] as const)),
    [experiments.data],
  );

  return (
    <>
      <h1>Guardrail triggers</h1>
      <p className="help">
        While an experiment runs, Lotty watches its guardrail metrics. When one crosses its
        threshold, Lotty pauses the experiment (or pauses it and rolls back to the control value)
        and records it here.
      </p>
      {props.experimentId !== "" && (
        <p className="banner">
          Showing triggers of experiment {names.get(props.experimentId) ?? props.experimentId} only.{" "}
          <Link to="/triggers">Show all</Link>
        </p>
      )}
      {triggers.isPending ? (
        <Loading what="guardrail triggers" />
      ) : triggers.isError ? (
        <ErrorMessage error={triggers.error} title="Guardrail triggers could not be loaded" />
      ) : triggers.data.triggers.length === 0 ? (
        <Empty>
          No guardrail has fired{props.experimentId !== "" ? " for this experiment" : ""}.
        </Empty>
      ) : (
        <>
          <TriggersTable triggers={triggers.data.triggers} names={names} />
          <Pager pager={pager} nextToken={triggers.data.nextPageToken} label="Guardrail triggers" />
        </>
      )}
    </>
  );
}
