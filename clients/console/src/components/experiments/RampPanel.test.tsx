import { describe, expect, it, vi } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { Role, UserSchema } from "../../../../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentSchema,
  ExperimentService,
  ExperimentStatus,
  RampControl,
  RampEventKind,
  RampMode,
  RampSafetyAction,
  type ControlRampRequest,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { RampPanel } from "./RampPanel.js";

const OWNER = "11111111-1111-1111-1111-111111111111";
const OTHER = "22222222-2222-2222-2222-222222222222";
const at = (iso: string) => timestampFromDate(new Date(iso));

function experiment(mode = RampMode.AUTO, step = 0) {
  const steps = [10, 50, 100];
  return create(ExperimentSchema, {
    id: "e1",
    name: "E",
    ownerId: OWNER,
    status: ExperimentStatus.RUNNING,
    audiencePercent: 80,
    rampPlan: {
      steps,
      gates: { minExposures: 20 },
      safetyAction: RampSafetyAction.STEP_BACK,
    },
    ramp: {
      mode,
      stepIndex: step,
      stepPercent: steps[step]!,
      effectiveAudiencePercent: (steps[step]! * 80) / 100,
      stepStartedAt: at("2026-12-07T10:00:00Z"),
      lastEvaluatedAt: at("2026-12-07T10:05:00Z"),
      lastGates: [
        {
          gate: "min_step_seconds",
          passed: true,
          observed: 300,
          threshold: 0,
          effect: "wait",
          detail: "300 s on the step, 0 s needed",
        },
        {
          gate: "min_exposures",
          passed: false,
          observed: 3,
          threshold: 20,
          effect: "wait",
          detail: "3 exposures on the step, 20 needed",
        },
      ],
    },
  });
}

function setup(
  userId: string,
  roles: Role[],
  opts: { mode?: RampMode; refuse?: string; blocks?: number } = {},
) {
  const control = vi.fn((req: ControlRampRequest) => {
    if (opts.refuse !== undefined) throw new ConnectError(opts.refuse, Code.FailedPrecondition);
    const next = experiment(RampMode.AUTO, req.action === RampControl.ADVANCE ? 1 : 0);
    return { experiment: next };
  });
  const transport = createRouterTransport(({ service }) => {
    service(ExperimentService, {
      controlRamp: control,
      listRampEvents: () => ({
        events: [
          {
            id: "a",
            at: at("2026-12-07T10:00:00Z"),
            kind: RampEventKind.STARTED,
            actorId: OWNER,
            fromPercent: 10,
            toPercent: 10,
            mode: RampMode.AUTO,
            reason: "started at the first step",
            version: 3,
          },
          {
            id: "b",
            at: at("2026-12-07T10:05:00Z"),
            kind: RampEventKind.BLOCKED,
            fromPercent: 10,
            toPercent: 10,
            mode: RampMode.AUTO,
            reason: "waiting on 10 %",
            version: 3,
            gates: [
              {
                gate: "min_exposures",
                passed: false,
                observed: 3,
                threshold: 20,
                effect: "wait",
                detail: "3 exposures on the step, 20 needed",
              },
            ],
          },
          // Further blocks (the autopilot records one when the failing gates change).
          ...Array.from({ length: opts.blocks ?? 0 }, (_, i) => ({
            id: `c${i}`,
            at: at(`2026-12-07T11:${String(i).padStart(2, "0")}:00Z`),
            kind: RampEventKind.BLOCKED,
            fromPercent: 10,
            toPercent: 10,
            mode: RampMode.AUTO,
            reason: `block ${i + 1}`,
            version: 3,
          })),
        ],
      }),
    });
  });
  const user = create(UserSchema, { id: userId, roles });
  render(
    <MemoryRouter>
      <TransportProvider transport={transport}>
        <QueryClientProvider client={new QueryClient()}>
          <RampPanel experiment={experiment(opts.mode)} user={user} />
        </QueryClientProvider>
      </TransportProvider>
    </MemoryRouter>,
  );
  return { control };
}

const CONTROL_NAMES = ["Manual", "Resume autopilot", "Hold", "Advance", "Skip a step", "Step back"];

describe("RampPanel", () => {
  it("shows the plan with the current step marked, the mode and the effective audience", () => {
    setup(OWNER, [Role.EXPERIMENTER]);
    const region = screen.getByRole("region", { name: "Autopilot ramp" });
    const steps = within(region).getByRole("list", { name: /Steps/ });
    // The marks (✓ past, ● current, ○ to come) and arrows are hidden from screen readers.
    expect(steps.textContent).toBe("●10 %→○50 %→○100 %");
    expect(steps.querySelector('[aria-current="step"]')?.textContent).toBe("●10 %");
    expect(within(region).getByText("Autopilot")).toBeTruthy();
    expect(screen.getByTestId("ramp-effective").textContent).toBe(
      "8 % of all traffic (80 % audience × 10 %)",
    );
    expect(within(region).getByText(/^Step back one step/)).toBeTruthy();
  });

  it("tabulates the last evaluation with passed and failed in words", () => {
    setup(OWNER, [Role.EXPERIMENTER]);
    const table = screen.getByRole("table", { name: "Last evaluation" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => [...r.querySelectorAll("th, td")].map((c) => c.textContent))).toEqual([
      ["Time on the step", "✓ Passed", "5 min", "≥ 0 s", "waits", "300 s on the step, 0 s needed"],
      ["Exposures", "✗ Failed", "3", "≥ 20", "waits", "3 exposures on the step, 20 needed"],
    ]);
    expect(screen.getByText("1 of 2 gates failed")).toBeTruthy();
  });

  it("lists the history newest first, with the failed gates", async () => {
    setup(OTHER, [Role.VIEWER]);
    const history = await screen.findByTestId("ramp-history");
    const entries = within(history)
      .getAllByRole("listitem")
      .filter((li) => li.parentElement === history);
    expect(entries.map((li) => li.querySelector(".badge")?.textContent)).toEqual([
      "Blocked",
      "Started",
    ]);
    expect(entries[0]!.textContent).toContain("by autopilot");
    expect(entries[0]!.textContent).toContain("Exposures: 3 observed, ≥ 20 needed (waits)");
    expect(entries[1]!.textContent).toContain("by 11111111…");
  });

  it("shows the ten newest entries until Show all", async () => {
    setup(OTHER, [Role.VIEWER], { blocks: 11 });
    const history = await screen.findByTestId("ramp-history");
    const entries = () =>
      [...history.children].map((li) => li.querySelector(".ramp-entry-reason")?.textContent);
    expect(entries()).toHaveLength(10);
    expect(entries()[0]).toBe("block 11");
    const more = screen.getByRole("button", { name: "Show all 13 entries" });
    expect(more.getAttribute("aria-expanded")).toBe("false");
    await userEvent.setup().click(more);
    expect(entries()).toHaveLength(13);
    expect(entries()[12]).toBe("started at the first step");
    expect(
      screen.getByRole("button", { name: "Show the newest only" }).getAttribute("aria-expanded"),
    ).toBe("true");
  });

  it("shows no command to a viewer nor to an experimenter who does not own it", () => {
    setup(OTHER, [Role.VIEWER]);
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.queryByRole("heading", { name: "Steer the ramp" })).toBeNull();
  });

  it("offers an admin the commands that apply", () => {
    setup(OTHER, [Role.ADMIN], { mode: RampMode.HOLD });
    const shown = screen
      .getAllByRole("button")
      .map((b) => b.textContent)
      .filter((t) => CONTROL_NAMES.includes(t ?? ""));
    expect(shown).toEqual(["Manual", "Resume autopilot", "Advance", "Skip a step"]);
  });

  it("asks for a comment, then advances and says where the ramp is", async () => {
    const { control } = setup(OWNER, [Role.EXPERIMENTER]);
    const ui = userEvent.setup();
    await ui.click(screen.getByRole("button", { name: "Advance" }));
    expect(screen.getByRole("heading", { name: "Advance to 50 %" })).toBeTruthy();
    const comment = screen.getByLabelText("Comment");
    expect(document.activeElement).toBe(comment);
    // Only the form's button carries the name now.
    expect(screen.getAllByRole("button", { name: "Advance" })).toHaveLength(1);
    await ui.click(screen.getByRole("button", { name: "Advance" }));
    expect(comment.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("Write a comment: it is required.")).toBeTruthy();
    expect(control).not.toHaveBeenCalled();

    await ui.type(comment, "metrics look fine");
    await ui.click(screen.getByRole("button", { name: "Advance" }));
    const status = await screen.findByText("The ramp is at 50 % (step 2 of 3), autopilot.");
    expect(status.getAttribute("role")).toBe("status");
    expect(control).toHaveBeenCalledTimes(1);
    const req = control.mock.calls[0]![0];
    expect([req.id, req.action, req.comment]).toEqual([
      "e1",
      RampControl.ADVANCE,
      "metrics look fine",
    ]);
  });

  it("shows the server's refusal as an alert and keeps the form", async () => {
    setup(OWNER, [Role.EXPERIMENTER], { refuse: "the ramp is already held" });
    const ui = userEvent.setup();
    await ui.click(screen.getByRole("button", { name: "Hold" }));
    await ui.type(screen.getByLabelText("Comment"), "wait for the fix");
    await ui.click(screen.getByRole("button", { name: "Hold" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The ramp command failed");
    expect(alert.textContent).toContain("the ramp is already held");
    expect((screen.getByLabelText("Comment") as HTMLTextAreaElement).value).toBe(
      "wait for the fix",
    );
  });

  it("returns focus to the command's button on Cancel", async () => {
    setup(OWNER, [Role.EXPERIMENTER]);
    const ui = userEvent.setup();
    await ui.click(screen.getByRole("button", { name: "Skip a step" }));
    await ui.click(screen.getByRole("button", { name: "Cancel" }));
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Skip a step" }));
  });
});
