import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import { create } from "@bufbuild/protobuf";
import { ReportSchema } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import {
  FilterOperator,
  FunnelStepSchema,
  MetricKind,
} from "../../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { parseSteps, stepToLine } from "../../api/catalog.js";
import { FunnelChart, RetentionChart } from "./FunnelChart.js";

const FUNNEL = {
  key: "checkout",
  name: "Checkout funnel",
  kind: MetricKind.FUNNEL,
  lowerIsBetter: false,
};

function report() {
  const steps = (subjects: number, reached: number[]) => ({
    subjects,
    steps: reached.map((n, i) => ({
      eventTypeKey: ["view", "cart", "buy"][i],
      subjects: n,
      share: n / subjects,
      shareInterval: { low: n / subjects - 0.01, high: n / subjects + 0.01 },
      stepConversion: n / (i === 0 ? subjects : reached[i - 1]!),
      dropOff: 1 - n / (i === 0 ? subjects : reached[i - 1]!),
    })),
  });
  return create(ReportSchema, {
    subjects: 200,
    variants: [
      {
        variantKey: "control",
        control: true,
        subjects: 100,
        metrics: [{ metricKey: "checkout", value: 0.2, funnel: steps(100, [80, 40, 20]) }],
      },
      {
        variantKey: "blue",
        subjects: 100,
        metrics: [
          {
            metricKey: "checkout",
            value: 0.3,
            funnel: steps(100, [90, 60, 30]),
            retention: undefined,
          },
        ],
      },
    ],
  });
}

describe("FunnelChart", () => {
  it("draws a chart per variant and the same numbers as a table", () => {
    render(<FunnelChart report={report()} metricKey="checkout" info={FUNNEL} />);
    const chart = screen.getByTestId("funnel-chart-blue");
    expect(chart.getAttribute("role")).toBe("img");
    expect(chart.getAttribute("aria-label")).toContain("step 3 buy: 30.0 % (30)");
    const rows = within(screen.getByTestId("funnel-table")).getAllByRole("row");
    // Header + 3 steps × 2 variants.
    expect(rows).toHaveLength(7);
    expect(rows[5]!.textContent).toContain("2. cart");
    expect(rows[5]!.textContent).toContain("66.7 %");
  });

  it("renders nothing for a metric without funnel figures", () => {
    const { container } = render(
      <RetentionChart report={report()} metricKey="checkout" info={FUNNEL} />,
    );
    expect(container.textContent).toBe("");
  });
});

describe("funnel step lines", () => {
  it("parse and print back", () => {
    const parsed = parseSteps("view\n\n  cart amount >= 20 \nbuy plan != free");
    expect("steps" in parsed && parsed.steps.map(stepToLine)).toEqual([
      "view",
      "cart amount >= 20",
      "buy plan != free",
    ]);
    expect("steps" in parsed && parsed.steps[1]!.filter!.operator).toBe(
      FilterOperator.GREATER_OR_EQUAL,
    );
    expect(stepToLine(create(FunnelStepSchema, { eventTypeKey: "x" }))).toBe("x");
    expect(parseSteps("view\ncart amount ~ 3")).toEqual({ bad: 1 });
  });
});
