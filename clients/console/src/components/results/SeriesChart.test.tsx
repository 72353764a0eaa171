import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { SeriesChart } from "./SeriesChart.js";
import { RATE, fixtureReport } from "./fixture.js";
import type { StepBoundary } from "../experiments/ramp.js";

const step = (iso: string, fromPercent: number, toPercent: number): StepBoundary => ({
  at: new Date(iso),
  fromPercent,
  toPercent,
  what: toPercent > fromPercent ? "Moved up" : "Manual: Step back",
  who: "autopilot",
});

describe("SeriesChart", () => {
  it("marks no step without a ramp", () => {
    render(<SeriesChart report={fixtureReport()} info={RATE} width={600} />);
    expect(screen.queryAllByTestId("ramp-mark")).toHaveLength(0);
    expect(screen.queryByTestId("ramp-marks")).toBeNull();
  });

  it("marks the ramp's step changes inside its time span, labelled, with a list for screen readers", () => {
    render(
      <SeriesChart
        report={fixtureReport()}
        info={RATE}
        width={600}
        steps={[
          step("2026-11-30T12:00:00Z", 1, 10), // before the window: not marked
          step("2026-12-01T06:00:00Z", 10, 50),
          step("2026-12-01T18:00:00Z", 50, 10),
        ]}
      />,
    );
    const marks = screen.getAllByTestId("ramp-mark");
    expect(marks.map((m) => m.querySelector("text")?.textContent)).toEqual(["↑ 50 %", "↓ 10 %"]);
    // A quarter and three quarters of the way along the x axis.
    const xs = marks.map((m) => Number(m.querySelector("line")?.getAttribute("x1")));
    const innerW = 600 - 72 - 24;
    expect(xs[0]).toBeCloseTo(innerW / 4, 0);
    expect(xs[1]).toBeCloseTo((innerW * 3) / 4, 0);
    const label = screen.getByTestId("series-chart").getAttribute("aria-label") ?? "";
    expect(label).toContain(
      "Dashed vertical lines mark 2 ramp step changes: to 50 % at 2026-12-01 06:00 UTC, to 10 % at 2026-12-01 18:00 UTC.",
    );
    const list = screen.getByRole("list", { name: /Ramp step changes/ });
    expect([...list.querySelectorAll("li")].map((li) => li.textContent)).toEqual([
      "2026-12-01 06:00 UTC: 10 % → 50 % (Moved up, by autopilot)",
      "2026-12-01 18:00 UTC: 50 % → 10 % (Manual: Step back, by autopilot)",
    ]);
  });
});
