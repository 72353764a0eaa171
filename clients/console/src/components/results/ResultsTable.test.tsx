import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import { ConnectError, Code } from "@connectrpc/connect";
import { ResultsTable } from "./ResultsTable.js";
import { ERRORS, RATE, fixtureReport } from "./fixture.js";

function row(table: HTMLElement, variant: string): HTMLElement {
  const header = within(table).getByRole("rowheader", { name: new RegExp(`^${variant}`) });
  const tr = header.closest("tr");
  if (tr === null) throw new Error("no row");
  return tr;
}

describe("ResultsTable", () => {
  it("renders one row per variant with the metric in the caption", () => {
    render(<ResultsTable report={fixtureReport()} metricKey="conversion_rate" info={RATE} />);
    const table = screen.getByTestId("results-table");
    expect(table.querySelector("caption")?.textContent).toContain("Conversion rate");
    const rowHeaders = within(table).getAllByRole("rowheader");
    expect(rowHeaders.map((h) => h.querySelector(".variant-key")?.textContent)).toEqual([
      "control",
      "green",
      "red",
    ]);
    rowHeaders.forEach((h) => expect(h.getAttribute("scope")).toBe("row"));
  });

  it("formats values, signed differences, intervals and p-values", () => {
    render(<ResultsTable report={fixtureReport()} metricKey="conversion_rate" info={RATE} />);
    const table = screen.getByTestId("results-table");
    const green = row(table, "green");
    expect(green.textContent).toContain("12.31 %");
    expect(within(green).getByText("+2.31 pp")).toBeTruthy();
    expect(within(green).getByText("+23.1 %")).toBeTruthy();
    expect(within(green).getByText("[+0.40 pp, +3.10 pp]")).toBeTruthy();
    expect(within(green).getByText("p < 0.001")).toBeTruthy();
    expect(within(green).getByText("adj. p = 0.001")).toBeTruthy();
    expect(within(green).getByText("> 99.9 %")).toBeTruthy();
    expect(green.textContent).toContain("1,000");

    const red = row(table, "red");
    expect(within(red).getByText("−1.20 pp")).toBeTruthy();
    expect(within(red).getByText("−12.0 %")).toBeTruthy();
    expect(within(red).getByText("[−2.00 pp, −0.40 pp]")).toBeTruthy();
    expect(red.textContent).not.toMatch(/-\d/);
  });

  it("says significance in words, not by colour alone", () => {
    render(<ResultsTable report={fixtureReport()} metricKey="conversion_rate" info={RATE} />);
    const table = screen.getByTestId("results-table");
    expect(row(table, "green").textContent).toContain("Significant improvement");
    expect(row(table, "red").textContent).toContain("Significant decline");
    expect(row(table, "control").textContent).toContain("Baseline");
    expect(screen.getByText(/Holm–Bonferroni correction/)).toBeTruthy();
  });

  it("reads direction for lower-is-better metrics and the correction", () => {
    render(<ResultsTable report={fixtureReport()} metricKey="error_rate" info={ERRORS} />);
    const table = screen.getByTestId("results-table");
    expect(row(table, "green").textContent).toContain("Not significant");
    // Significant before correction only.
    expect(row(table, "red").textContent).toContain("Not significant after correction");
    // Chance to beat control is flipped: 1 − 0.6.
    expect(row(table, "green").textContent).toContain("40.0 %");
  });

  it("shows an empty state without data and an error from the server", () => {
    const { unmount } = render(
      <ResultsTable report={fixtureReport({ subjects: 0 })} metricKey="conversion_rate" />,
    );
    expect(screen.queryByTestId("results-table")).toBeNull();
    expect(screen.getByText(/No data yet/)).toBeTruthy();
    unmount();
    render(
      <ResultsTable
        report={undefined}
        metricKey="x"
        error={new ConnectError("boom", Code.NotFound)}
      />,
    );
    expect(screen.getByRole("alert").textContent).toContain("Not found.");
  });
});
