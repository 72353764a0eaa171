/** Every saved configuration version, newest first, with what changed in each. */
import { useQuery } from "@connectrpc/connect-query";
import { ExperimentService } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { formatTime } from "../../format/dates.js";
import { personLabel } from "../../api/experiments.js";
import { Empty, ErrorMessage, Loading } from "../Status.js";
import { versionDiff } from "./diff.js";
import { formatStepPercent } from "./ramp.js";
import { TableHead } from "../Table.js";

export function VersionsView(props: { id: string; me: string }) {
  const versions = useQuery(ExperimentService.method.listExperimentVersions, { id: props.id });
  return (
    <section aria-labelledby="exp-versions-heading">
      <h2 id="exp-versions-heading">Versions</h2>
      {versions.isPending && <Loading what="versions" />}
      {versions.isError && <ErrorMessage error={versions.error} title="Could not load versions" />}
      {versions.isSuccess &&
        (versions.data.versions.length === 0 ? (
          <Empty>No versions saved.</Empty>
        ) : (
          <table>
            <TableHead columns={[{ label: "Version", num: true }, "Saved", "By", "What changed"]} />
            <tbody>
              {versions.data.versions
                .map((v, i, all) => ({
                  v,
                  changes: i === 0 ? undefined : versionDiff(all[i - 1]?.experiment, v.experiment!),
                  // A ramp step saves a version with the same configuration and another share.
                  ramp:
                    i > 0 && all[i - 1]!.rampPercent !== v.rampPercent
                      ? `Ramp step: ${formatStepPercent(v.rampPercent)} of the audience`
                      : undefined,
                }))
                .reverse()
                .map(({ v, changes, ramp }) => (
                  <tr key={v.version}>
                    <th scope="row" className="num">
                      {v.version}
                    </th>
                    <td>{formatTime(v.createdAt)}</td>
                    <td title={v.authorId}>
                      {v.authorId === "" ? "autopilot" : personLabel(v.authorId, props.me)}
                    </td>
                    <td>
                      {changes === undefined ? (
                        "Created"
                      ) : changes.length === 0 ? (
                        (ramp ?? "No configuration change")
                      ) : (
                        <ul className="exp-changes">
                          {changes.map((c) => (
                            <li key={c.field}>
                              <strong>{c.field}</strong>: <del>{c.before}</del>{" "}
                              <span aria-hidden="true">→</span>
                              <span className="visually-hidden"> changed to </span>{" "}
                              <ins>{c.after}</ins>
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
