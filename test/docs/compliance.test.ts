/**
 * docs/compliance.md stays checkable: every relative link and every test file it names exists,
 * every quoted test name is in the file named before it, and its main table has exactly one row
 * per acceptance criterion ID of the specification.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";

const root = path.resolve(import.meta.dirname, "../..");
const docsDir = path.join(root, "docs");
const matrix = readFileSync(path.join(docsDir, "compliance.md"), "utf8");

/**
 * The acceptance criterion IDs of the product specification's criteria list
 * ("Lotty — acceptance criteria, one ID each"), in its order. The specification lives outside
 * this repository, so the list is copied here. There is no B8-3 and no B9-5 in it. The extra
 * features C7–C11 are graded on two rows each, FX-1 and FX-2, written here as "<feature> FX-n".
 */
const CRITERIA_IDS = [
  "B1-1",
  "B1-2",
  "B1-3",
  "B1-4",
  "B1-5",
  "B2-1",
  "B2-2",
  "B2-3",
  "B2-4",
  "B2-5",
  "B3-1",
  "B3-2",
  "B3-3",
  "B3-4",
  "B3-5",
  "B4-1",
  "B4-2",
  "B4-3",
  "B4-4",
  "B4-5",
  "B5-1",
  "B5-2",
  "B5-3",
  "B5-4",
  "B5-5",
  "B5-6",
  "B6-1",
  "B6-2",
  "B6-3",
  "B6-4",
  "B6-5",
  "B7-1",
  "B7-2",
  "B7-3",
  "B7-4",
  "B7-5",
  "B7-6",
  "B7-7",
  "B7-8",
  "B7-9",
  "B8-1",
  "B8-2",
  "B8-4",
  "B9-1",
  "B9-2",
  "B9-3",
  "B9-4",
  "B9-6",
  "B9-7",
  "B10-1",
  "B10-2",
  "C7 FX-1",
  "C7 FX-2",
  "C8 FX-1",
  "C8 FX-2",
  "C9 FX-1",
  "C9 FX-2",
  "C10 FX-1",
  "C10 FX-2",
  "C11 FX-1",
  "C11 FX-2",
];

const MAIN_HEADING = "## Acceptance criteria";

/** The cells of each body row of the first table under the main heading. */
function mainTableRows(): string[][] {
  const start = matrix.indexOf(`\n${MAIN_HEADING}`);
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = matrix.slice(start + 1);
  const next = rest.indexOf("\n## ");
  const section = next < 0 ? rest : rest.slice(0, next);
  const lines = section.split("\n");
  const first = lines.findIndex((line) => line.startsWith("|"));
  expect(first).toBeGreaterThanOrEqual(0);
  const table: string[] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith("|")) break;
    table.push(line);
  }
  // Header and separator first.
  return table.slice(2).map((line) =>
    line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim()),
  );
}

function idOf(cell: string): string {
  return cell.replace(/[*`]/g, "").trim();
}

describe("docs/compliance.md", () => {
  it("has one main-table row per acceptance criterion ID, in the specification's order", () => {
    const ids = mainTableRows().map((cells) => idOf(cells[0] ?? ""));
    expect(ids).toEqual(CRITERIA_IDS);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("gives every main-table row a status: met, partly met or not met", () => {
    const bad = mainTableRows()
      .map((cells) => `${idOf(cells[0] ?? "")}: ${cells[cells.length - 1] ?? ""}`)
      .filter((row) => !/^[^:]+: (met|partly met: .+|not met: .+)$/.test(row));
    expect(bad).toEqual([]);
  });

  it("links only to files and folders that exist", () => {
    const targets = [...matrix.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(targets.length).toBeGreaterThan(0);
    const missing = targets
      .filter((target) => !/^[a-z]+:/i.test(target) && !target.startsWith("#"))
      .map((target) => target.split("#")[0]!)
      .filter((target) => !existsSync(path.resolve(docsDir, decodeURIComponent(target))));
    expect(missing).toEqual([]);
  });

  it("names only test files that exist", () => {
    const files = [...matrix.matchAll(/`(test\/[^`\s]+?\.test\.tsx?)`/g)].map((m) => m[1]!);
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((file) => !existsSync(path.join(root, file)))).toEqual([]);
  });

  it('quotes only test names that are in the file named before them (`file` › "name")', () => {
    const missing: string[] = [];
    let quoted = 0;
    for (const m of matrix.matchAll(
      /`(test\/[^`\s]+?\.test\.tsx?)` › ((?:"[^"]+"(?:, | and )?)+)/g,
    )) {
      const file = path.join(root, m[1]!);
      if (!existsSync(file)) continue; // reported by the test above
      const source = readFileSync(file, "utf8");
      for (const name of m[2]!.matchAll(/"([^"]+)"/g)) {
        quoted++;
        if (!source.includes(name[1]!)) missing.push(`${m[1]} › ${name[1]}`);
      }
    }
    expect(quoted).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });
});
