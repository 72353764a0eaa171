import { describe, expect, it } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { create } from "@bufbuild/protobuf";
import { MemoryRouter } from "react-router";
import { SessionProvider } from "../../api/session.js";
import { Role, UserSchema } from "../../../../../gen/lotty/access/v1/access_pb.js";
import { Outcome } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";
import {
  LearningService,
  type FindSimilarRequest,
} from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { emptyDraft } from "../experiments/draft.js";
import { DraftSimilar } from "./DraftSimilar.js";
import { LearningLink } from "./LearningLink.js";
import { SimilarExperiments } from "./SimilarExperiments.js";

function renderWith(ui: React.ReactNode, opts: { missing?: boolean } = {}) {
  const requests: FindSimilarRequest[] = [];
  const transport = createRouterTransport(({ service }) => {
    service(LearningService, {
      findSimilar: (req) => {
        requests.push(req);
        return {
          similar: [
            {
              score: 0.72,
              reasons: ["same_flag", "shared_tags"],
              reasonDetails: [
                { reason: "same_flag", weight: 30, detail: "flag checkout_button" },
                { reason: "shared_tags", weight: 10, detail: "tags: checkout" },
              ],
              learning: {
                experimentId: "e-old",
                experimentName: "Green checkout button",
                outcome: Outcome.ROLLBACK,
                firedGuardrailMetricKeys: ["error_rate"],
                reportPermalink: "/console/experiments/e-old/results",
                filled: true,
              },
            },
          ],
        };
      },
      getLearning: (req) => {
        if (opts.missing === true) throw new ConnectError("no learning", Code.NotFound);
        return { learning: { experimentId: req.experimentId, filled: false } };
      },
    });
  });
  const user = create(UserSchema, { id: "u1", roles: [Role.EXPERIMENTER] });
  const wrap = (content: React.ReactNode) => (
    <SessionProvider initial={{ user, apiKeyId: "k" }}>
      <TransportProvider transport={transport}>
        <MemoryRouter>{content}</MemoryRouter>
      </TransportProvider>
    </SessionProvider>
  );
  const view = render(wrap(ui));
  return { requests, view, rerender: (next: React.ReactNode) => view.rerender(wrap(next)) };
}

describe("SimilarExperiments", () => {
  it("shows each hit with its reasons, weights, outcome and links", async () => {
    const { requests } = renderWith(<SimilarExperiments to={{ experimentId: "e-new" }} />);
    const name = await screen.findByRole("link", { name: "Green checkout button" });
    expect(name.getAttribute("href")).toBe("/learnings/e-old");
    expect(requests[0]).toMatchObject({ experimentId: "e-new", limit: 5 });
    expect(screen.getByText("similarity 72 %")).toBeTruthy();
    const reasons = screen.getByRole("list", { name: "Why Green checkout button matched" });
    expect(reasons.textContent).toBe(
      "Same flag: flag checkout_button (weight 30)Shared tags: tags: checkout (weight 10)",
    );
    expect(screen.getByText("rolled back")).toBeTruthy();
    expect(screen.getByText("guardrail fired: error_rate")).toBeTruthy();
    expect(
      screen
        .getByRole("link", { name: /^Results\s*of Green checkout button$/ })
        .getAttribute("href"),
    ).toBe("/experiments/e-old/results");
  });
});

describe("DraftSimilar", () => {
  it("asks nothing without a flag, then sends the draft once it has been still", async () => {
    const draft = emptyDraft();
    const { requests, rerender } = renderWith(
      <DraftSimilar draft={draft} flagType={FlagType.STRING} flagTags={[]} />,
    );
    expect(screen.getByText(/Choose a flag to see/)).toBeTruthy();
    const withFlag = { ...draft, flagKey: "checkout_button", primaryMetricKey: "conversion_rate" };
    rerender(<DraftSimilar draft={withFlag} flagType={FlagType.STRING} flagTags={["checkout"]} />);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(requests).toEqual([]);
    await waitFor(() => expect(requests).toHaveLength(1), { timeout: 2000 });
    expect(requests[0]!.experimentId).toBe("");
    expect(requests[0]!.draft).toMatchObject({
      flagKey: "checkout_button",
      primaryMetricKey: "conversion_rate",
    });
    expect(requests[0]!.draft?.variants.map((v) => [v.key, v.weight, v.control])).toEqual([
      ["control", 50, true],
      ["treatment", 50, false],
    ]);
    expect(requests[0]!.draftTags).toEqual(["checkout"]);
  });
});

describe("LearningLink", () => {
  it("links to the learning with a badge until it is written up", async () => {
    renderWith(<LearningLink experimentId="e1" />);
    const link = await screen.findByRole("link", { name: "Learning" });
    expect(link.getAttribute("href")).toBe("/learnings/e1");
    expect(screen.getByText("needs writing up")).toBeTruthy();
  });
  it("shows nothing when the experiment has no learning", async () => {
    const { view } = renderWith(<LearningLink experimentId="e1" />, { missing: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(view.container.textContent).toBe("");
  });
});
