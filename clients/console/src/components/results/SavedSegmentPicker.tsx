/**
 * The results page's saved segment filter (docs/saved-segments.md#report-filter):
 * a labelled select of the saved segments; the report then covers only the
 * subjects whose recorded dimension values match the chosen segment's rule.
 * Hidden when there are no saved segments and none is chosen.
 */
import { useId } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { CatalogService } from "../../../../../gen/lotty/catalog/v1/catalog_pb.js";

export function SavedSegmentPicker(props: { value: string; onChange(key: string): void }) {
  const id = useId();
  const list = useQuery(CatalogService.method.listSavedSegments, { pageSize: 200 });
  const segments = list.data?.savedSegments ?? [];
  if (list.isLoading || (segments.length === 0 && props.value === "")) return null;
  const known = props.value === "" || segments.some((s) => s.key === props.value);
  return (
    <div className="field">
      <label htmlFor={`${id}-saved`}>Saved segment</label>
      <select
        id={`${id}-saved`}
        value={props.value}
        aria-describedby={`${id}-saved-help`}
        onChange={(e) => props.onChange(e.target.value)}
      >
        <option value="">All subjects</option>
        {!known && <option value={props.value}>{props.value} (not found)</option>}
        {segments.map((s) => (
          <option key={s.key} value={s.key}>
            {s.displayName}
            {s.displayName !== s.key ? ` (${s.key})` : ""}
          </option>
        ))}
      </select>
      <span id={`${id}-saved-help`} className="help">
        Only subjects whose dimension values at first exposure match the segment&apos;s rule.
      </span>
    </div>
  );
}
