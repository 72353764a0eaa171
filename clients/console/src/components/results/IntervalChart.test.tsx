import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { ConnectError, Code } from "@connectrpc/connect";
import { IntervalChart, TONE_COLOURS } from "./IntervalChart.js";
import { RATE, fixtureReport } from "./fixture.js";

const num = (el: Element | null, attr: string) => Number(el?.getAttribute(attr));

describe("IntervalChart", () => {
  it("is an accessible image with a title and a summary", () => {
    render(<IntervalChart report={fixtureReport()} metricKey="conversion_rate" info={RATE} />);
    const svg = screen.getByTestId("interval-chart");
    expect(svg.getAttribute("role")).toBe("img");
    expect(svg.querySelector("title")?.textContent).toContain("Conversion rate");
    const label = svg.getAttribute("aria-label") ?? "";
    expect(label).toContain("green: +2.31 pp");
    expect(label).toContain("significant improvement");
    expect(label).toContain("red: −1.20 pp");
  });

  it("draws each interval on the right side of the zero line", () => {
    render(<IntervalChart report={fixtureReport()} metricKey="conversion_rate" info={RATE} />);
    const zero = num(screen.getByTestId("zero-line"), "x1");
    const green = screen.getByTestId("ci-green");
    const red = screen.getByTestId("ci-red");
    const gx = num(green, "x");
    const gw = num(green, "width");
    const rx = num(red, "x");
    const rw = num(red, "width");
    // green's interval [+0.4 pp, +3.1 pp] is right of zero, red's [−2 pp, −0.4 pp] left of it.
    expect(gx).toBeGreaterThan(zero);
    expect(rx + rw).toBeLessThan(zero);
    expect(gw).toBeGreaterThan(0);
    // Interval ends are ordered, and the estimate lies within.
    const estimate = num(screen.getByTestId("estimate-green"), "cx");
    expect(estimate).toBeGreaterThan(gx);
    expect(estimate).toBeLessThan(gx + gw);
    // The sequential interval is wider and crosses zero.
    const seq = screen.getByTestId("seq-green");
    expect(num(seq, "x")).toBeLessThan(zero);
    expect(num(seq, "x") + num(seq, "width")).toBeGreaterThan(gx + gw);
    // Colour follows the verdict (a hint only; the words are in the label).
    expect(green.getAttribute("fill")).toBe(TONE_COLOURS.good);
    expect(red.getAttribute("fill")).toBe(TONE_COLOURS.bad);
  });

  it("has no bar for the control", () => {
    render(<IntervalChart report={fixtureReport()} metricKey="conversion_rate" info={RATE} />);
    expect(screen.queryByTestId("ci-control")).toBeNull();
  });

  it("shows an empty state without comparisons and an error from the server", () => {
    const report = fixtureReport();
    for (const v of report.variants) for (const m of v.metrics) m.comparison = undefined;
    const { unmount } = render(<IntervalChart report={report} metricKey="conversion_rate" />);
    expect(screen.queryByTestId("interval-chart")).toBeNull();
    expect(screen.getByText(/No comparison to draw yet/)).toBeTruthy();
    unmount();
    render(
      <IntervalChart
        report={undefined}
        metricKey="x"
        error={new ConnectError("down", Code.Unavailable)}
      />,
    );
    expect(screen.getByRole("alert").textContent).toContain("not reachable");
  });
});
