import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { HealthPanel } from "./HealthPanel.js";
import { fixtureReport } from "./fixture.js";
import { SeriesChart } from "./SeriesChart.js";
import { RATE } from "./fixture.js";

describe("HealthPanel", () => {
  it("shows the data health figures without an alert when all is well", () => {
    render(<HealthPanel report={fixtureReport()} />);
    expect(screen.getByRole("heading", { name: "Data health" })).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByText("No sample ratio mismatch")).toBeTruthy();
    expect(screen.getByText(/800 \(8\.0 %\)/)).toBeTruthy();
    expect(screen.getByText("missing field: 600")).toBeTruthy();
    expect(screen.getByText("42")).toBeTruthy();
  });

  it("alerts on a sample ratio mismatch and flags traffic skew", () => {
    const report = fixtureReport({});
    report.srm = { ...report.srm!, mismatch: true, pValue: 0.00001 };
    report.dataHealth!.traffic[0]!.observedShare = 0.4;
    render(<HealthPanel report={report} />);
    const alert = screen.getByRole("alert");
    expect(alert.className).toBe("banner bad");
    expect(alert.textContent).toContain("Sample ratio mismatch");
    expect(screen.getByText(/Traffic skew/)).toBeTruthy();
    expect(screen.getByText("skewed")).toBeTruthy();
  });

  it("does not claim a passed check before the test has enough subjects", () => {
    const report = fixtureReport({});
    report.subjects = 60;
    render(<HealthPanel report={report} />);
    expect(screen.queryByText("No sample ratio mismatch")).toBeNull();
    expect(screen.getByText("Sample ratio not checked yet")).toBeTruthy();
    expect(screen.getByText(/starts at 100 subjects \(now 60\)/)).toBeTruthy();
  });
});

describe("SeriesChart", () => {
  it("draws one line per variant with an accessible label", () => {
    render(<SeriesChart report={fixtureReport()} info={RATE} />);
    const svg = screen.getByTestId("series-chart");
    expect(svg.getAttribute("role")).toBe("img");
    expect(svg.getAttribute("aria-label")).toContain("green 11.00 %");
    expect(svg.querySelectorAll("path.visx-linepath")).toHaveLength(3);
  });
  it("says so when there is no series", () => {
    render(<SeriesChart report={fixtureReport({ series: [] })} info={RATE} />);
    expect(screen.getByText(/No time series yet/)).toBeTruthy();
  });
});
