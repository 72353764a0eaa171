/**
 * The results page's segment controls (docs/segments.md): a filter on one
 * dimension (its values, as the experiment's exposures recorded them,
 * chosen with checkboxes) and a breakdown dimension. Both are plain form
 * controls with labels, usable from the keyboard.
 */
import { useId, useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { CatalogService } from "../../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { ReportService } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { formatCount } from "../../format/numbers.js";
import type { SegmentChoice } from "../../format/window.js";

export function SegmentPicker(props: {
  experimentId: string;
  /** The current filter (one condition is edited here; others are kept as they are). */
  filter: readonly SegmentChoice[];
  breakdown: string;
  /** A dimension's values changed (none: it leaves the filter). */
  onFilter(dimension: string, values: string[]): void;
  onBreakdown(dimension: string): void;
}) {
  const id = useId();
  const dimensionsQuery = useQuery(CatalogService.method.listDimensions, { pageSize: 500 });
  const dimensions = dimensionsQuery.data?.dimensions ?? [];
  const current = props.filter[0];
  // A dimension chosen but no value ticked yet lives here, not in the URL.
  const [picked, setPicked] = useState("");
  const dimension = current?.dimension ?? picked;
  const valuesQuery = useQuery(
    ReportService.method.listSegmentValues,
    { experimentId: props.experimentId, dimension },
    { enabled: dimension !== "" },
  );
  if (dimensionsQuery.isLoading || (dimensions.length === 0 && props.filter.length === 0)) {
    return null;
  }
  const seen = valuesQuery.data?.values ?? [];
  const chosen = new Set(current?.values ?? []);
  // Values in the URL the experiment has not seen stay listed, so they can be unticked.
  const listed = [
    ...seen.map((v) => ({ value: v.value, subjects: v.subjects as number | undefined })),
    ...[...chosen]
      .filter((v) => !seen.some((s) => s.value === v))
      .map((value) => ({ value, subjects: undefined })),
  ];
  const known = (key: string) => key === "" || dimensions.some((d) => d.key === key);
  return (
    <>
      <div className="field">
        <label htmlFor={`${id}-segment`}>Segment</label>
        <select
          id={`${id}-segment`}
          value={dimension}
          onChange={(e) => {
            setPicked(e.target.value);
            if (current !== undefined) props.onFilter(current.dimension, []);
          }}
        >
          <option value="">Whole experiment</option>
          {!known(dimension) && <option value={dimension}>{dimension} (not declared)</option>}
          {dimensions.map((d) => (
            <option key={d.key} value={d.key}>
              {d.displayName}
              {d.displayName !== d.key ? ` (${d.key})` : ""}
            </option>
          ))}
        </select>
      </div>
      {dimension !== "" && (
        <fieldset className="field segment-values">
          <legend>Values of {dimension}</legend>
          {valuesQuery.isLoading && <p className="help">Loading values…</p>}
          {!valuesQuery.isLoading && listed.length === 0 && (
            <p className="help">No exposure has recorded this dimension yet.</p>
          )}
          {listed.map((v) => (
            <label key={v.value} className="check">
              <input
                type="checkbox"
                checked={chosen.has(v.value)}
                onChange={(e) => {
                  const next = new Set(chosen);
                  if (e.target.checked) next.add(v.value);
                  else next.delete(v.value);
                  props.onFilter(
                    dimension,
                    listed.map((x) => x.value).filter((x) => next.has(x)),
                  );
                }}
              />{" "}
              {v.value}
              {v.subjects !== undefined && (
                <span className="muted"> · {formatCount(v.subjects)} subjects</span>
              )}
            </label>
          ))}
        </fieldset>
      )}
      <div className="field">
        <label htmlFor={`${id}-breakdown`}>Break down by</label>
        <select
          id={`${id}-breakdown`}
          value={props.breakdown}
          onChange={(e) => props.onBreakdown(e.target.value)}
        >
          <option value="">No breakdown</option>
          {!known(props.breakdown) && (
            <option value={props.breakdown}>{props.breakdown} (not declared)</option>
          )}
          {dimensions.map((d) => (
            <option key={d.key} value={d.key}>
              {d.displayName}
              {d.displayName !== d.key ? ` (${d.key})` : ""}
            </option>
          ))}
        </select>
      </div>
    </>
  );
}
