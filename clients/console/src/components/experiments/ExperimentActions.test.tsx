import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { create } from "@bufbuild/protobuf";
import { createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { Role, UserSchema } from "../../../../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentSchema,
  ExperimentService,
  ExperimentStatus,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { ExperimentActions } from "./ExperimentActions.js";

const OWNER = "11111111-1111-1111-1111-111111111111";
const REVIEWER = "22222222-2222-2222-2222-222222222222";

function setup(status: ExperimentStatus, userId: string, roles: Role[]) {
  const approve = vi.fn(() => ({ experiment: { id: "e1", status: ExperimentStatus.APPROVED } }));
  const start = vi.fn(() => ({ experiment: { id: "e1", status: ExperimentStatus.RUNNING } }));
  const transport = createRouterTransport(({ service }) => {
    service(ExperimentService, { approveExperiment: approve, startExperiment: start });
  });
  const experiment = create(ExperimentSchema, {
    id: "e1",
    name: "E",
    ownerId: OWNER,
    status,
    version: 1,
    variants: [
      { key: "control", weight: 50, control: true },
      { key: "b", weight: 50 },
    ],
  });
  const user = create(UserSchema, { id: userId, roles });
  render(
    <MemoryRouter>
      <TransportProvider transport={transport}>
        <QueryClientProvider client={new QueryClient()}>
          <ExperimentActions experiment={experiment} user={user} />
        </QueryClientProvider>
      </TransportProvider>
    </MemoryRouter>,
  );
  return { approve, start };
}

describe("ExperimentActions", () => {
  it("offers review actions to an approver, never to the owner", () => {
    setup(ExperimentStatus.IN_REVIEW, REVIEWER, [Role.APPROVER]);
    for (const name of ["Approve", "Request changes", "Reject"]) {
      expect(screen.getByRole("button", { name })).toBeTruthy();
    }
  });

  it("shows no review action to the owner, even an admin", () => {
    setup(ExperimentStatus.IN_REVIEW, OWNER, [Role.ADMIN]);
    expect(screen.queryByRole("button", { name: "Approve" })).toBeNull();
  });

  it("shows nothing a viewer could do", () => {
    setup(ExperimentStatus.APPROVED, REVIEWER, [Role.VIEWER]);
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.getByText(/No actions are available/)).toBeTruthy();
  });

  it("approves with a comment through a form whose button repeats the action", async () => {
    const { approve } = setup(ExperimentStatus.IN_REVIEW, REVIEWER, [Role.APPROVER]);
    const ui = userEvent.setup();
    await ui.click(screen.getByRole("button", { name: "Approve" }));
    const comment = screen.getByLabelText("Comment");
    expect(document.activeElement).toBe(comment);
    expect(screen.getAllByRole("button", { name: "Approve" })).toHaveLength(1);
    await ui.type(comment, "Fine by me");
    await ui.click(screen.getByRole("button", { name: "Approve" }));
    expect(await screen.findByText("Your approval was recorded.")).toBeTruthy();
    expect(approve).toHaveBeenCalledTimes(1);
    expect((approve.mock.calls[0] as unknown as [{ comment: string }])[0].comment).toBe(
      "Fine by me",
    );
  });

  it("starts an approved experiment for its owner and confirms in a status message", async () => {
    const { start } = setup(ExperimentStatus.APPROVED, OWNER, [Role.EXPERIMENTER]);
    await userEvent.setup().click(screen.getByRole("button", { name: "Start" }));
    const status = await screen.findByRole("status");
    expect(status.textContent).toBe("The experiment is running.");
    expect(start).toHaveBeenCalledTimes(1);
  });
});
