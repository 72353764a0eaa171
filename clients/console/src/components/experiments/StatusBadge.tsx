/** An experiment status as a badge: words first, colour only as a hint. */
import { ExperimentStatus } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { enumLabel } from "../../format/labels.js";
import { statusTone } from "../../api/experiments.js";

export function StatusBadge(props: { status: ExperimentStatus }) {
  const tone = statusTone(props.status);
  return (
    <span className={`badge${tone === "" ? "" : ` ${tone}`}`}>
      {enumLabel(ExperimentStatus, props.status)}
    </span>
  );
}
