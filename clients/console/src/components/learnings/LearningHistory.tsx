/** A learning's audit history: every version, who made it, when, and each changed field before → after. */
import { useQuery } from "@connectrpc/connect-query";
import { LearningService } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { personLabel } from "../../api/experiments.js";
import { changeValueText, fieldLabel } from "../../api/learnings.js";
import { formatTime } from "../../format/dates.js";
import { Empty, ErrorMessage, Loading } from "../Status.js";
import { TableHead } from "../Table.js";

export function LearningHistory(props: { experimentId: string; me: string }) {
  const history = useQuery(LearningService.method.listLearningHistory, {
    experimentId: props.experimentId,
  });
  return (
    <section aria-labelledby="learn-history-heading">
      <h2 id="learn-history-heading">History</h2>
      {history.isPending && <Loading what="the history" />}
      {history.isError && <ErrorMessage error={history.error} title="Could not load the history" />}
      {history.isSuccess &&
        (history.data.edits.length === 0 ? (
          <Empty>Nothing recorded yet.</Empty>
        ) : (
          <table data-testid="learning-history">
            <caption className="visually-hidden">Versions of this learning, newest first</caption>
            <TableHead columns={[{ label: "Version", num: true }, "When", "Who", "Changes"]} />
            <tbody>
              {history.data.edits.map((edit) => (
                <tr key={edit.version}>
                  <td className="num">{edit.version}</td>
                  <td>{formatTime(edit.editedAt)}</td>
                  <td title={edit.editorId}>{personLabel(edit.editorId, props.me)}</td>
                  <td>
                    {edit.changes.length === 0 ? (
                      edit.version === 1 ? (
                        "Recorded from the experiment when it was completed."
                      ) : (
                        <span className="muted">No field changed.</span>
                      )
                    ) : (
                      <ul className="exp-changes">
                        {edit.changes.map((c) => (
                          <li key={c.field}>
                            <strong>{fieldLabel(c.field)}</strong>:{" "}
                            <del className="exp-prewrap">
                              <span className="visually-hidden">before: </span>
                              {changeValueText(c.before)}
                            </del>{" "}
                            →{" "}
                            <ins className="exp-prewrap">
                              <span className="visually-hidden">after: </span>
                              {changeValueText(c.after)}
                            </ins>
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}
