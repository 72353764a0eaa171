import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { GuardrailTriggerSchema } from "../../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import {
  Direction,
  GuardrailAction,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { TriggersTable } from "./TriggersTable.js";

describe("TriggersTable", () => {
  it("shows each trigger with a results link, the comparison and the action in words", () => {
    const triggers = [
      create(GuardrailTriggerSchema, {
        id: "t1",
        experimentId: "exp-1",
        metricKey: "error_rate",
        threshold: 0.05,
        windowSeconds: 120,
        action: GuardrailAction.ROLLBACK,
        observedValue: 0.2,
        triggeredAt: timestampFromDate(new Date("2026-12-06T19:07:02Z")),
        direction: Direction.INCREASE_IS_BAD,
        variantKey: "banner",
        sampleSize: 223,
        experimentVersion: 1,
      }),
    ];
    render(
      <MemoryRouter>
        <TriggersTable triggers={triggers} names={new Map([["exp-1", "Promo banner"]])} />
      </MemoryRouter>,
    );
    const headers = screen.getAllByRole("columnheader").map((h) => h.textContent);
    expect(headers).toEqual([
      "Time",
      "Experiment",
      "Rule",
      "Observed vs threshold",
      "Action taken",
    ]);
    const row = screen.getAllByRole("row")[1]!;
    expect(within(row).getByRole("link", { name: "Promo banner" }).getAttribute("href")).toBe(
      "/experiments/exp-1/results",
    );
    expect(within(row).getByText("0.2 > 0.05")).toBeTruthy();
    expect(within(row).getByText("2026-12-06 19:07 UTC")).toBeTruthy();
    expect(
      within(row).getByText("Paused the experiment and rolled back to the control value"),
    ).toBeTruthy();
  });
});
