/** Metric choice among the report's metrics, primary first. */
import { useId } from "react";
import type { MetricInfo } from "./metrics.js";

export function MetricPicker(props: {
  metrics: readonly MetricInfo[];
  primaryKey: string;
  value: string;
  onChange(key: string): void;
}) {
  const id = useId();
  const known = props.metrics.some((m) => m.key === props.value);
  return (
    <div className="field">
      <label htmlFor={`${id}-metric`}>Metric</label>
      <select
        id={`${id}-metric`}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      >
        {!known && <option value={props.value}>{props.value} (not in this report)</option>}
        {props.metrics.map((m) => (
          <option key={m.key} value={m.key}>
            {m.name}
            {m.name !== m.key ? ` (${m.key})` : ""}
            {m.key === props.primaryKey ? " — primary" : ""}
          </option>
        ))}
      </select>
    </div>
  );
}
