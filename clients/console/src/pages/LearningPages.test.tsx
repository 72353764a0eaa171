import { describe, expect, it } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { SessionProvider } from "../api/session.js";
import { Role, UserSchema } from "../../../../gen/lotty/access/v1/access_pb.js";
import { Outcome } from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import {
  LearningSchema,
  LearningService,
  type Learning,
  type SearchLearningsRequest,
  type UpsertLearningRequest,
} from "../../../../gen/lotty/learnings/v1/learnings_pb.js";
import LearningPage from "./LearningPage.js";
import LearningsPage from "./LearningsPage.js";

const ID = "22222222-2222-2222-2222-222222222222";

function learning(overrides: MessageInitShape<typeof LearningSchema> = {}): Learning {
  return create(LearningSchema, {
    experimentId: ID,
    experimentName: "Blue checkout button",
    flagKey: "checkout_button",
    hypothesis: "Blue converts better",
    primaryMetricKey: "conversion_rate",
    outcome: Outcome.ROLLOUT,
    winnerVariantKey: "blue",
    ownerId: "owner",
    version: 1,
    filled: false,
    missingFields: ["notes", "action"],
    reportPermalink: `/console/experiments/${ID}/results`,
    completedAt: timestampFromDate(new Date("2026-11-20T10:00:00Z")),
    primaryEffect: {
      metricKey: "conversion_rate",
      variantKey: "blue",
      controlVariantKey: "control",
      controlValue: 0.2,
      variantValue: 0.22,
      absoluteDifference: 0.02,
      ciLow: 0.01,
      ciHigh: 0.03,
      relativeDifference: 0.1,
      pValue: 0.004,
      significant: true,
    },
    firedGuardrailMetricKeys: ["error_rate"],
    tags: ["checkout"],
    ...overrides,
  } as MessageInitShape<typeof LearningSchema>);
}

function Where() {
  const location = useLocation();
  return <output data-testid="where">{location.pathname + location.search}</output>;
}

function setup(opts: {
  path: string;
  userId?: string;
  roles?: Role[];
  upsert?: (req: UpsertLearningRequest) => Learning;
}) {
  const upserts: UpsertLearningRequest[] = [];
  const searches: SearchLearningsRequest[] = [];
  let current = learning();
  const transport = createRouterTransport(({ service }) => {
    service(LearningService, {
      getLearning: () => ({ learning: current }),
      upsertLearning: (req) => {
        upserts.push(req);
        current = opts.upsert?.(req) ?? current;
        return { learning: current };
      },
      listLearningHistory: () => ({
        edits: [
          {
            version: 2,
            editorId: "owner",
            editedAt: timestampFromDate(new Date("2026-11-21T09:00:00Z")),
            changes: [{ field: "notes", before: '""', after: '"seen on iOS first"' }],
          },
          { version: 1, editorId: "", changes: [] },
        ],
      }),
      findSimilar: () => ({ similar: [] }),
      searchLearnings: (req) => {
        searches.push(req);
        return {
          totalSize: 1,
          nextPageToken: "",
          results: [
            {
              learning: learning(),
              score: 0.8,
              snippet: "the **blue** button <b>won</b>",
            },
          ],
        };
      },
    });
  });
  const user = create(UserSchema, {
    id: opts.userId ?? "owner",
    displayName: "Olga",
    roles: opts.roles ?? [Role.EXPERIMENTER],
  });
  render(
    <SessionProvider initial={{ user, apiKeyId: "k1" }}>
      <TransportProvider transport={transport}>
        <MemoryRouter initialEntries={[opts.path]}>
          <Routes>
            <Route path="/learnings" element={<LearningsPage />} />
            <Route path="/learnings/:experimentId" element={<LearningPage />} />
            <Route path="*" element={<p>elsewhere</p>} />
          </Routes>
          <Where />
        </MemoryRouter>
      </TransportProvider>
    </SessionProvider>,
  );
  return { upserts, searches };
}

describe("LearningPage", () => {
  it("shows the learning read-only with what is missing, the links and the history", async () => {
    setup({ path: `/learnings/${ID}`, userId: "someone-else", roles: [Role.VIEWER] });
    await screen.findByRole("heading", { level: 1, name: "Learning: Blue checkout button" });
    expect(screen.getByText("Needs writing up: missing notes, action.")).toBeTruthy();
    expect(screen.getByRole("link", { name: "Final report" }).getAttribute("href")).toBe(
      `/experiments/${ID}/results`,
    );
    expect(screen.getByRole("link", { name: "Experiment" }).getAttribute("href")).toBe(
      `/experiments/${ID}`,
    );
    expect(screen.queryByRole("button", { name: "Edit learning" })).toBeNull();
    const history = await screen.findByTestId("learning-history");
    expect(history.textContent).toContain("seen on iOS first");
    expect(history.textContent).toContain("Lotty (automatic)");
    expect(screen.getAllByText(/guardrail fired: error_rate/).length).toBeGreaterThan(0);
  });

  it("lets the owner save with the version as lock", async () => {
    const user = userEvent.setup();
    const { upserts } = setup({
      path: `/learnings/${ID}`,
      upsert: (req) =>
        learning({
          notes: req.learning?.notes ?? "",
          action: req.learning?.action ?? "",
          version: 2,
          filled: true,
          missingFields: [],
        }),
    });
    await user.click(await screen.findByRole("button", { name: "Edit learning" }));
    await user.type(screen.getByLabelText("Notes"), "seen on iOS first");
    await user.type(screen.getByLabelText("Action"), "rolled out blue");
    await user.clear(screen.getByLabelText("Tags"));
    await user.type(screen.getByLabelText("Tags"), "checkout, pricing");
    await user.click(screen.getByRole("button", { name: "Save learning" }));
    await screen.findByText("Saved: this is version 2.");
    // The editor closed and the page shows the saved learning.
    expect(screen.queryByRole("button", { name: "Save learning" })).toBeNull();
    await screen.findByText("rolled out blue");
    expect(upserts).toHaveLength(1);
    expect(upserts[0]!.expectedVersion).toBe(1);
    expect(upserts[0]!.learning).toMatchObject({
      experimentId: ID,
      notes: "seen on iOS first",
      action: "rolled out blue",
      tags: ["checkout", "pricing"],
    });
  });

  it("explains a concurrent edit", async () => {
    const user = userEvent.setup();
    setup({
      path: `/learnings/${ID}`,
      upsert: () => {
        throw new ConnectError("version 1 is not the current version 2", Code.Aborted);
      },
    });
    await user.click(await screen.findByRole("button", { name: "Edit learning" }));
    await user.type(screen.getByLabelText("Notes"), "x");
    await user.click(screen.getByRole("button", { name: "Save learning" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/Someone else edited this learning/);
    expect(within(alert).getByRole("button", { name: "Reload the learning" })).toBeTruthy();
  });

  it("shows the server's field errors at the field", async () => {
    const user = userEvent.setup();
    setup({
      path: `/learnings/${ID}`,
      upsert: () => {
        throw new ConnectError(
          "learning.links[0].url: must be an absolute http(s) URL",
          Code.InvalidArgument,
        );
      },
    });
    await user.click(await screen.findByRole("button", { name: "Edit learning" }));
    await user.click(screen.getByRole("button", { name: "Add link" }));
    await user.type(screen.getByLabelText("Link 1 title"), "Doc");
    await user.type(screen.getByLabelText("Link 1 URL"), "ftp://x");
    await user.click(screen.getByRole("button", { name: "Save learning" }));
    const url = screen.getByLabelText("Link 1 URL");
    await waitFor(() => expect(url.getAttribute("aria-invalid")).toBe("true"));
    const describedBy = url.getAttribute("aria-describedby") ?? "";
    expect(document.getElementById(describedBy.split(" ").pop()!)?.textContent).toMatch(
      /absolute http\(s\) URL/,
    );
  });
});

describe("LearningsPage", () => {
  it("searches with the URL's filters and marks matched terms as text", async () => {
    const user = userEvent.setup();
    const { searches } = setup({
      path: "/learnings?q=blue&outcome=rollout&tag=checkout&guardrail=fired",
    });
    await screen.findByRole("link", { name: "Blue checkout button" });
    expect(searches[0]).toMatchObject({
      query: "blue",
      outcome: Outcome.ROLLOUT,
      tags: ["checkout"],
      guardrailFired: true,
    });
    expect(screen.getByText("1 learning matches these filters.")).toBeTruthy();
    const mark = document.querySelector(".snippet mark");
    expect(mark?.textContent).toBe("blue");
    // Markup in a snippet stays text.
    expect(document.querySelector(".snippet b")).toBeNull();
    expect(document.querySelector(".snippet")?.textContent).toContain("<b>won</b>");
    expect(screen.getAllByText("needs writing up").length).toBeGreaterThan(0);

    await user.type(screen.getByLabelText("Countries"), "de, fr");
    await user.click(screen.getByRole("button", { name: "Search" }));
    await waitFor(() =>
      expect(screen.getByTestId("where").textContent).toBe(
        "/learnings?q=blue&outcome=rollout&country=de&country=fr&tag=checkout&guardrail=fired",
      ),
    );
    await waitFor(() => expect(searches.at(-1)?.countries).toEqual(["de", "fr"]));
  });

  it("refuses an end date before the start without asking", async () => {
    const { searches } = setup({ path: "/learnings?from=2026-12-06&to=2026-12-01" });
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/end date is before the start date/);
    expect(
      screen.getByLabelText("Completed until (UTC, inclusive)").getAttribute("aria-invalid"),
    ).toBe("true");
    expect(searches).toEqual([]);
  });
});
