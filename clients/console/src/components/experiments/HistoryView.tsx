/** The audit history: who did what, when, with which comment. */
import { useQuery } from "@connectrpc/connect-query";
import {
  ExperimentAction,
  ExperimentService,
  ExperimentStatus,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { enumLabel } from "../../format/labels.js";
import { formatTime } from "../../format/dates.js";
import { personLabel } from "../../api/experiments.js";
import { Empty, ErrorMessage, Loading } from "../Status.js";
import { TableHead } from "../Table.js";

export function HistoryView(props: { id: string; me: string }) {
  const history = useQuery(ExperimentService.method.getExperimentHistory, { id: props.id });
  return (
    <section aria-labelledby="exp-history-heading">
      <h2 id="exp-history-heading">History</h2>
      {history.isPending && <Loading what="history" />}
      {history.isError && <ErrorMessage error={history.error} title="Could not load history" />}
      {history.isSuccess &&
        (history.data.entries.length === 0 ? (
          <Empty>Nothing recorded yet.</Empty>
        ) : (
          <table>
            <TableHead
              columns={[
                "When",
                "Who",
                "Action",
                "Status",
                { label: "Version", num: true },
                "Comment",
              ]}
            />
            <tbody>
              {[...history.data.entries].reverse().map((h, i) => (
                <tr key={i}>
                  <td>{formatTime(h.at)}</td>
                  <td title={h.actorId}>{personLabel(h.actorId, props.me)}</td>
                  <td>{enumLabel(ExperimentAction, h.action)}</td>
                  <td>
                    {h.fromStatus === h.toStatus || h.fromStatus === ExperimentStatus.UNSPECIFIED
                      ? enumLabel(ExperimentStatus, h.toStatus)
                      : `${enumLabel(ExperimentStatus, h.fromStatus)} → ${enumLabel(ExperimentStatus, h.toStatus)}`}
                  </td>
                  <td className="num">{h.version}</td>
                  <td className="exp-prewrap">{h.comment}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}
