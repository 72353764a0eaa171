import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { create } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { MemoryRouter, Route, Routes } from "react-router";
import { SessionProvider } from "../api/session.js";
import { Role, UserSchema } from "../../../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentSchema,
  ExperimentService,
  ExperimentStatus,
  RampSafetyAction,
  type UpdateExperimentRequest,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagService, FlagType } from "../../../../gen/lotty/flags/v1/flags_pb.js";
import { CatalogService, MetricKind } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import ExperimentFormPage from "./ExperimentFormPage.js";

const ID = "11111111-1111-1111-1111-111111111111";
const OWNER = "22222222-2222-2222-2222-222222222222";
const str = (value: string) => create(ValueSchema, { kind: { case: "stringValue", value } });

describe("ExperimentFormPage", () => {
  it("keeps a draft's ramp plan when the draft is edited (the form does not edit ramp plans)", async () => {
    const draft = create(ExperimentSchema, {
      id: ID,
      name: "Ramped draft",
      flagKey: "button_colour",
      ownerId: OWNER,
      status: ExperimentStatus.DRAFT,
      version: 1,
      audiencePercent: 100,
      primaryMetricKey: "conversion_rate",
      variants: [
        { key: "control", value: str("grey"), weight: 50, control: true },
        { key: "blue", value: str("blue"), weight: 50 },
      ],
      rampPlan: {
        steps: [10, 50, 100],
        gates: { minExposures: 20 },
        safetyAction: RampSafetyAction.STEP_BACK,
      },
    });
    const update = vi.fn((_req: UpdateExperimentRequest) => ({
      experiment: { ...draft, version: 2 },
    }));
    const transport = createRouterTransport(({ service }) => {
      service(ExperimentService, {
        getExperiment: () => ({ experiment: draft }),
        updateExperiment: update,
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
          ],
        }),
      });
    });
    const user = create(UserSchema, { id: OWNER, displayName: "Olga", roles: [Role.EXPERIMENTER] });
    render(
      <SessionProvider initial={{ user, apiKeyId: "k1" }}>
        <TransportProvider transport={transport}>
          <MemoryRouter initialEntries={[`/experiments/${ID}/edit`]}>
            <Routes>
              <Route path="/experiments/:id/edit" element={<ExperimentFormPage />} />
              <Route path="/experiments/:id" element={<p>saved</p>} />
            </Routes>
          </MemoryRouter>
        </TransportProvider>
      </SessionProvider>,
    );
    await screen.findByRole("heading", { level: 1, name: "Edit Ramped draft" });
    expect(screen.getByText(/Its ramp plan \(10 % → 50 % → 100 %\) is kept as it is/)).toBeTruthy();
    const ui = userEvent.setup();
    const name = screen.getByLabelText("Name", { exact: true });
    await ui.clear(name);
    await ui.type(name, "Ramped draft, renamed");
    await ui.click(screen.getByRole("button", { name: "Save draft" }));
    await waitFor(() => expect(update).toHaveBeenCalledTimes(1));
    const sent = update.mock.calls[0]![0].experiment!;
    expect(sent.name).toBe("Ramped draft, renamed");
    expect(sent.rampPlan?.steps).toEqual([10, 50, 100]);
    expect(sent.rampPlan?.gates?.minExposures).toBe(20);
    expect(sent.rampPlan?.safetyAction).toBe(RampSafetyAction.STEP_BACK);
  });
});
