import { describe, expect, it } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { SessionProvider } from "../api/session.js";
import { Role, UserSchema } from "../../../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentSchema,
  ExperimentService,
  ExperimentStatus,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { ReportService, SegmentReportSchema } from "../../../../gen/lotty/reports/v1/reports_pb.js";
import { GuardrailService } from "../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { CatalogService, MetricKind } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import ResultsPage from "./ResultsPage.js";
import { fixtureReport } from "../components/results/fixture.js";

const ID = "11111111-1111-1111-1111-111111111111";

function Where() {
  const location = useLocation();
  return <output data-testid="where">{location.search}</output>;
}

function setup(
  opts: { search?: string; failReport?: boolean; roles?: Role[]; rawEventsFrom?: number } = {},
) {
  const watched: { from?: string; segment?: string; breakdown?: string }[] = [];
  const transport = createRouterTransport(({ service }) => {
    service(ExperimentService, {
      getExperiment: () => ({
        experiment: create(ExperimentSchema, {
          id: ID,
          name: "Green button",
          flagKey: "button_colour",
          status: ExperimentStatus.RUNNING,
          primaryMetricKey: "conversion_rate",
        }),
      }),
    });
    service(ReportService, {
      async *watchExperimentReport(req, ctx) {
        watched.push({
          from: req.from?.seconds.toString(),
          segment: req.segment.map((c) => `${c.dimension}=${c.values.join("|")}`).join("&"),
          breakdown: req.breakdownDimension,
        });
        if (opts.failReport === true) throw new ConnectError("no such experiment", Code.NotFound);
        const report = fixtureReport();
        if (opts.rawEventsFrom !== undefined) {
          report.rawEventsFrom = timestampFromMs(opts.rawEventsFrom);
          report.rawEventsIncomplete = true;
        }
        if (req.breakdownDimension !== "") {
          report.breakdownDimension = req.breakdownDimension;
          report.segments = ["ios", "(none)"].map((value) =>
            create(SegmentReportSchema, {
              dimension: req.breakdownDimension,
              value,
              subjects: report.subjects,
              exposures: report.exposures,
              variants: report.variants,
              metrics: report.metrics,
            }),
          );
          report.segmentsCompared = 2;
        }
        yield { report };
        // Stay open like the server does until the page cancels.
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      },
      listSegmentValues: () => ({
        values: [
          { value: "ios", subjects: 30 },
          { value: "android", subjects: 20 },
        ],
      }),
      getExperimentReport: () => {
        if (opts.failReport === true) throw new ConnectError("no such experiment", Code.NotFound);
        return { report: fixtureReport() };
      },
    });
    service(GuardrailService, { listGuardrailTriggers: () => ({ triggers: [] }) });
    service(CatalogService, {
      listDimensions: () => ({ dimensions: [{ key: "platform", displayName: "Platform" }] }),
      listMetrics: () => ({
        metrics: [
          { key: "conversion_rate", name: "Conversion rate", kind: MetricKind.CONVERSION_RATE },
          { key: "error_rate", name: "Error rate", kind: MetricKind.RATIO },
        ],
      }),
    });
  });
  const user = create(UserSchema, {
    id: "u1",
    displayName: "Ann",
    roles: opts.roles ?? [Role.VIEWER],
  });
  const rendered = render(
    <SessionProvider initial={{ user, apiKeyId: "k1" }}>
      <TransportProvider transport={transport}>
        <MemoryRouter initialEntries={[`/experiments/${ID}/results${opts.search ?? ""}`]}>
          <Routes>
            <Route
              path="/experiments/:id/results"
              element={
                <>
                  <ResultsPage />
                  <Where />
                </>
              }
            />
          </Routes>
        </MemoryRouter>
      </TransportProvider>
    </SessionProvider>,
  );
  return { watched, unmount: rendered.unmount };
}

describe("ResultsPage", () => {
  it("shows the experiment, results, chart, health and triggers", async () => {
    setup();
    expect(await screen.findByRole("heading", { level: 1, name: "Green button" })).toBeTruthy();
    const table = await screen.findByTestId("results-table");
    expect(table.querySelector("caption")?.textContent).toContain("Conversion rate");
    expect(screen.getByTestId("interval-chart")).toBeTruthy();
    expect(screen.getByRole("heading", { name: "Data health" })).toBeTruthy();
    expect(screen.getByRole("heading", { name: "Guardrail triggers" })).toBeTruthy();
    expect(screen.getByRole("link", { name: /Experiment details/ }).getAttribute("href")).toBe(
      `/experiments/${ID}`,
    );
    expect(screen.getByText(/Live · last update/)).toBeTruthy();
    for (const name of [
      "Download CSV",
      "Download JSON",
      "Download chart (SVG)",
      "Download chart (PNG)",
      "Copy link",
    ]) {
      expect(screen.getByRole("button", { name })).toBeTruthy();
    }
  });

  it("says when the window reaches past the raw events retention dropped", async () => {
    setup({ rawEventsFrom: Date.UTC(2026, 8, 1) });
    const banner = await screen.findByTestId("retention-banner");
    expect(banner.textContent).toContain("2026-09-01");
    expect(banner.textContent).toContain("dropped by the event retention");
  });

  it("shows no retention note while the raw events are complete", async () => {
    setup();
    await screen.findByTestId("results-table");
    expect(screen.queryByTestId("retention-banner")).toBeNull();
  });

  it("reopens the view from the URL and writes changes back", async () => {
    setup({
      search:
        "?window=custom&from=2026-12-01T00:00Z&to=2026-12-02T00:00Z&metric=error_rate&segment=ios",
    });
    const table = await screen.findByTestId("results-table");
    expect(table.querySelector("caption")?.textContent).toContain("Error rate");
    expect((screen.getByLabelText("Window") as HTMLSelectElement).value).toBe("custom");
    expect((screen.getByLabelText("From (UTC)") as HTMLInputElement).value).toBe(
      "2026-12-01T00:00",
    );
    expect((screen.getByLabelText("Metric") as HTMLSelectElement).value).toBe("error_rate");
    await userEvent.selectOptions(screen.getByLabelText("Window"), "7d");
    await waitFor(() => {
      const search = new URLSearchParams(screen.getByTestId("where").textContent ?? "");
      expect(search.get("window")).toBe("7d");
      expect(search.has("from")).toBe(false);
      expect(search.get("metric")).toBe("error_rate");
      expect(search.get("segment")).toBe("ios");
    });
  });

  it("asks for the segment and breakdown in the URL and writes choices back", async () => {
    const { watched } = setup({ search: "?window=all&segment=platform%3Dios&breakdown=platform" });
    await screen.findByTestId("breakdown");
    expect(watched.at(-1)).toMatchObject({ segment: "platform=ios", breakdown: "platform" });
    expect(screen.getByTestId("segment-banner").textContent).toContain("platform is ios");
    expect(screen.getByTestId("breakdown-table-ios")).toBeTruthy();
    expect(screen.getByTestId("breakdown-table-(none)")).toBeTruthy();
    const ios = await screen.findByRole("checkbox", { name: /^ios/ });
    expect((ios as HTMLInputElement).checked).toBe(true);
    await userEvent.click(screen.getByRole("checkbox", { name: /^android/ }));
    await waitFor(() => {
      const search = new URLSearchParams(screen.getByTestId("where").textContent ?? "");
      expect(search.getAll("segment")).toEqual(["platform=ios", "platform=android"]);
    });
    await waitFor(() => expect(watched.at(-1)?.segment).toBe("platform=ios|android"));
    await userEvent.selectOptions(screen.getByLabelText("Break down by"), "");
    await waitFor(() => {
      const search = new URLSearchParams(screen.getByTestId("where").textContent ?? "");
      expect(search.has("breakdown")).toBe(false);
    });
  });

  it("hides server exports from roles that may not export", async () => {
    setup({ roles: [Role.SERVICE] });
    await screen.findByTestId("results-table");
    expect(screen.queryByRole("button", { name: "Download CSV" })).toBeNull();
    expect(screen.getByRole("button", { name: "Copy link" })).toBeTruthy();
  });

  it("offers Export events to experimenters but not to viewers (raw events carry subject ids)", async () => {
    const viewer = setup({ roles: [Role.VIEWER] });
    await screen.findByTestId("results-table");
    expect(screen.getByRole("button", { name: "Download CSV" })).toBeTruthy();
    expect(screen.queryByRole("region", { name: "Export events" })).toBeNull();
    viewer.unmount();
    setup({ roles: [Role.EXPERIMENTER] });
    await screen.findByTestId("results-table");
    const panel = screen.getByRole("region", { name: "Export events" });
    expect(within(panel).getByLabelText("Format")).toBeTruthy();
    expect(within(panel).getByRole("button", { name: "Export events" })).toBeTruthy();
  });

  it("shows a server error instead of a blank page", async () => {
    setup({ failReport: true });
    const alert = await screen.findByText(/no such experiment/);
    expect(alert.closest("[role=alert]")).toBeTruthy();
    expect(screen.queryByTestId("results-table")).toBeNull();
  });
});
