/**
 * On a completed or archived experiment's page: a link to its learning,
 * with a "needs writing up" badge until it is filled. Nothing when the
 * experiment has no learning (NOT_FOUND) or learnings cannot be read.
 */
import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { LearningService } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { NeedsWritingUpBadge } from "./bits.js";

export function LearningLink(props: { experimentId: string }) {
  const query = useQuery(LearningService.method.getLearning, {
    experimentId: props.experimentId,
  });
  const learning = query.data?.learning;
  if (learning === undefined) return null;
  return (
    <span className="learn-link">
      <Link className="button" to={`/learnings/${learning.experimentId}`}>
        Learning
      </Link>{" "}
      <NeedsWritingUpBadge filled={learning.filled} />
    </span>
  );
}
