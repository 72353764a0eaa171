/** Pieces of the console's data tables. */
import type { ReactNode } from "react";

/** A column header: its text, or its content and whether it holds numbers (right-aligned). */
export type ColumnHeader = string | { label: ReactNode; num?: boolean };

/** The header row of a table, one `<th scope="col">` per column. */
export function TableHead(props: { columns: readonly ColumnHeader[] }) {
  return (
    <thead>
      <tr>
        {props.columns.map((c, i) =>
          typeof c === "string" ? (
            <th key={i} scope="col">
              {c}
            </th>
          ) : (
            <th key={i} scope="col" className={c.num === true ? "num" : undefined}>
              {c.label}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}
