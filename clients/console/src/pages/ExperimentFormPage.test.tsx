import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { create, equals } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { MemoryRouter, Route, Routes } from "react-router";
import { SessionProvider } from "../api/session.js";
import { Role, UserSchema } from "../../../../gen/lotty/access/v1/access_pb.js";
import {
  Direction,
  ExperimentSchema,
  ExperimentService,
  ExperimentStatus,
  RampPlanSchema,
  RampSafetyAction,
  type CreateExperimentRequest,
  type Experiment,
  type UpdateExperimentRequest,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagService, FlagType } from "../../../../gen/lotty/flags/v1/flags_pb.js";
import { CatalogService, MetricKind } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import ExperimentFormPage from "./ExperimentFormPage.js";

const ID = "11111111-1111-1111-1111-111111111111";
const OWNER = "22222222-2222-2222-2222-222222222222";
const str = (value: string) => create(ValueSchema, { kind: { case: "stringValue", value } });

function rampedDraft(): Experiment {
  return create(ExperimentSchema, {
    id: ID,
    name: "Ramped draft",
    flagKey: "button_colour",
    ownerId: OWNER,
    status: ExperimentStatus.DRAFT,
    version: 1,
    audiencePercent: 100,
    primaryMetricKey: "conversion_rate",
    metricKeys: ["error_rate"],
    variants: [
      { key: "control", value: str("grey"), weight: 50, control: true },
      { key: "blue", value: str("blue"), weight: 50 },
    ],
    rampPlan: {
      steps: [10, 50, 100],
      gates: {
        minStepSeconds: 90,
        minExposures: 20,
        thresholds: [
          { metricKey: "error_rate", threshold: 0.02, direction: Direction.INCREASE_IS_BAD },
        ],
        maxTrafficSkew: 0.07,
      },
      safetyAction: RampSafetyAction.STEP_BACK,
    },
  });
}

/** The form at `path` against a fake server; the create and update calls are recorded. */
function renderForm(path: string, existing?: Experiment) {
  const update = vi.fn((req: UpdateExperimentRequest) => ({
    experiment: { id: ID, name: req.experiment?.name ?? "", version: 2 },
  }));
  const createExperiment = vi.fn((req: CreateExperimentRequest) => ({
    experiment: { id: ID, name: req.experiment?.name ?? "", version: 1 },
  }));
  const transport = createRouterTransport(({ service }) => {
    service(ExperimentService, {
      getExperiment: () => ({ experiment: existing }),
      updateExperiment: update,
      createExperiment,
    });
    service(FlagService, {
      listFlags: () => ({
        flags: [{ key: "button_colour", type: FlagType.STRING, defaultValue: str("grey") }],
      }),
    });
    service(CatalogService, {
      listMetrics: () => ({
        metrics: [
          { key: "conversion_rate", name: "Conversion rate", kind: MetricKind.CONVERSION_RATE },
          { key: "error_rate", name: "Error rate", kind: MetricKind.CONVERSION_RATE },
          { key: "revenue", name: "Revenue", kind: MetricKind.SUM },
        ],
      }),
    });
  });
  const user = create(UserSchema, { id: OWNER, displayName: "Olga", roles: [Role.EXPERIMENTER] });
  render(
    <SessionProvider initial={{ user, apiKeyId: "k1" }}>
      <TransportProvider transport={transport}>
        <MemoryRouter initialEntries={[path]}>
          <Routes>
            <Route path="/experiments/new" element={<ExperimentFormPage />} />
            <Route path="/experiments/:id/edit" element={<ExperimentFormPage />} />
            <Route path="/experiments/:id" element={<p>saved</p>} />
          </Routes>
        </MemoryRouter>
      </TransportProvider>
    </SessionProvider>,
  );
  return { update, createExperiment };
}

const field = (label: string) => screen.getByLabelText(label, { exact: true });

describe("ExperimentFormPage: the autopilot ramp", () => {
  it("opens a draft's plan filled in, and saves it unchanged when untouched", async () => {
    const draft = rampedDraft();
    const { update } = renderForm(`/experiments/${ID}/edit`, draft);
    await screen.findByRole("heading", { level: 1, name: "Edit Ramped draft" });
    expect(
      (screen.getByRole("checkbox", { name: "Ramp the audience step by step" }) as HTMLInputElement)
        .checked,
    ).toBe(true);
    expect((field("Steps (% of the audience)") as HTMLInputElement).value).toBe("10, 50, 100");
    expect((field("Minimum time on each step (minutes)") as HTMLInputElement).value).toBe("1.5");
    expect((field("Maximum traffic skew (%)") as HTMLInputElement).value).toBe("7");
    expect((field("Ramp threshold 1 value") as HTMLInputElement).value).toBe("0.02");
    expect((field("Safety action") as HTMLSelectElement).value).toBe(
      String(RampSafetyAction.STEP_BACK),
    );
    const ui = userEvent.setup();
    const name = field("Name");
    await ui.clear(name);
    await ui.type(name, "Ramped draft, renamed");
    await ui.click(screen.getByRole("button", { name: "Save draft" }));
    await waitFor(() => expect(update).toHaveBeenCalledTimes(1));
    const sent = update.mock.calls[0]![0].experiment!;
    expect(sent.name).toBe("Ramped draft, renamed");
    expect(equals(RampPlanSchema, sent.rampPlan!, draft.rampPlan!)).toBe(true);
  });

  it("removes the plan when the fieldset is turned off", async () => {
    const { update } = renderForm(`/experiments/${ID}/edit`, rampedDraft());
    await screen.findByRole("heading", { level: 1, name: "Edit Ramped draft" });
    const ui = userEvent.setup();
    await ui.click(screen.getByRole("checkbox", { name: "Ramp the audience step by step" }));
    expect(screen.queryByLabelText("Steps (% of the audience)")).toBeNull();
    expect(
      screen.getByText(/Saving removes the draft's ramp plan \(10 % → 50 % → 100 %\)/),
    ).toBeTruthy();
    await ui.click(screen.getByRole("button", { name: "Save draft" }));
    await waitFor(() => expect(update).toHaveBeenCalledTimes(1));
    expect(update.mock.calls[0]![0].experiment!.rampPlan).toBeUndefined();
  });

  it("creates a plan from the keyboard-operable fieldset: steps, a threshold on a chosen metric, step back", async () => {
    const { createExperiment } = renderForm("/experiments/new");
    await screen.findByRole("heading", { level: 1, name: "New experiment" });
    const ui = userEvent.setup();
    await ui.type(field("Name"), "Ramped checkout");
    await screen.findByRole("option", { name: /button_colour/ });
    await ui.selectOptions(field("Flag"), "button_colour");
    await ui.type(field("Variant 1 value"), "grey");
    await ui.type(field("Variant 2 value"), "blue");
    await screen.findByRole("option", { name: "Conversion rate (conversion_rate)" });
    await ui.selectOptions(field("Primary metric"), "conversion_rate");
    await ui.click(screen.getByRole("checkbox", { name: "Error rate (error_rate)" }));

    expect(screen.queryByLabelText("Steps (% of the audience)")).toBeNull();
    const toggle = screen.getByRole("checkbox", { name: "Ramp the audience step by step" });
    toggle.focus();
    await ui.keyboard(" ");
    // The fieldset follows the checkbox in the tab order.
    await ui.tab();
    expect(document.activeElement).toBe(field("Steps (% of the audience)"));
    expect((document.activeElement as HTMLInputElement).value).toBe("1, 5, 10, 25, 50, 100");
    await ui.clear(document.activeElement!);
    await ui.keyboard("5, 20, 100");
    await ui.clear(field("Minimum time on each step (minutes)"));
    await ui.type(field("Minimum time on each step (minutes)"), "15");
    await ui.click(screen.getByRole("button", { name: "Add ramp threshold" }));
    const metric = field("Ramp threshold 1 metric");
    // Only the experiment's own metrics: revenue is not one of them.
    expect(
      within(metric)
        .getAllByRole("option")
        .map((o) => o.textContent),
    ).toEqual(["Choose a metric", "Conversion rate (conversion_rate)", "Error rate (error_rate)"]);
    await ui.selectOptions(metric, "error_rate");
    await ui.type(field("Ramp threshold 1 value"), "0.05");
    await ui.click(
      screen.getByRole("checkbox", { name: "A sample ratio mismatch holds the ramp" }),
    );
    await ui.type(field("Maximum rejected events (% of received)"), "2.5");
    await ui.selectOptions(field("Safety action"), String(RampSafetyAction.STEP_BACK));
    await ui.click(screen.getByRole("button", { name: "Create draft" }));

    await waitFor(() => expect(createExperiment).toHaveBeenCalledTimes(1));
    const plan = createExperiment.mock.calls[0]![0].experiment!.rampPlan!;
    expect(
      equals(
        RampPlanSchema,
        plan,
        create(RampPlanSchema, {
          steps: [5, 20, 100],
          gates: {
            minStepSeconds: 900,
            minExposuresPerVariant: 500,
            thresholds: [
              { metricKey: "error_rate", threshold: 0.05, direction: Direction.INCREASE_IS_BAD },
            ],
            allowSrm: true,
            maxRejectedShare: 0.025,
          },
          safetyAction: RampSafetyAction.STEP_BACK,
        }),
      ),
    ).toBe(true);
  });

  it("shows the browser's and the server's problems at the ramp fields they name", async () => {
    const { update } = renderForm(`/experiments/${ID}/edit`, rampedDraft());
    await screen.findByRole("heading", { level: 1, name: "Edit Ramped draft" });
    const ui = userEvent.setup();
    const minutes = field("Minimum time on each step (minutes)");
    await ui.clear(minutes);
    await ui.type(minutes, "-5");
    await ui.click(screen.getByRole("button", { name: "Save draft" }));
    await screen.findByRole("heading", { name: "1 problem to fix before saving" });
    expect(update).not.toHaveBeenCalled();
    expect(minutes.getAttribute("aria-invalid")).toBe("true");
    const describedBy = (id: string | null) =>
      (id ?? "")
        .split(/\s+/)
        .map((x) => document.getElementById(x)?.textContent ?? "")
        .join(" ");
    expect(describedBy(minutes.getAttribute("aria-describedby"))).toContain(
      "experiment.ramp_plan.gates.min_step_seconds: must be a number of minutes between 0 and 43200",
    );

    await ui.clear(minutes);
    await ui.type(minutes, "30");
    update.mockImplementationOnce(() => {
      throw new ConnectError(
        'experiment.ramp_plan.steps[1]: must be greater than the step before it (5); experiment.ramp_plan.gates.thresholds[0].metric_key: must be one of the experiment\'s metrics (primary, secondary or guardrail), not "error_rate"',
        Code.InvalidArgument,
      );
    });
    const steps = field("Steps (% of the audience)");
    await ui.clear(steps);
    await ui.type(steps, "5, 5");
    await ui.click(screen.getByRole("button", { name: "Save draft" }));
    await screen.findByRole("heading", { name: "2 problems to fix before saving" });
    expect(steps.getAttribute("aria-invalid")).toBe("true");
    expect(describedBy(steps.getAttribute("aria-describedby"))).toContain(
      "experiment.ramp_plan.steps[1]: must be greater than the step before it (5)",
    );
    expect(field("Ramp threshold 1 metric").getAttribute("aria-invalid")).toBe("true");
    // What was typed is kept.
    expect((steps as HTMLInputElement).value).toBe("5, 5");
  });
});
