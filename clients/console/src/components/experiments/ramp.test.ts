import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Direction,
  ExperimentSchema,
  ExperimentStatus,
  RampControl,
  RampEventKind,
  RampEventSchema,
  RampGatesSchema,
  RampGateResultSchema,
  RampMode,
  RampSafetyAction,
  type RampEvent,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import {
  autopilotDrives,
  availableControls,
  controlForm,
  eventActor,
  eventKindLabel,
  failedGateLine,
  formatDuration,
  formatFraction,
  formatStepPercent,
  gateObserved,
  gateRules,
  gateThreshold,
  labelRows,
  modeLabel,
  percentChange,
  rampSentence,
  safetyActionLabel,
  stepBoundaries,
  stepTrail,
} from "./ramp.js";

const ME = "11111111-1111-1111-1111-111111111111";
const OTHER = "22222222-2222-2222-2222-222222222222";

const gate = (init: Parameters<typeof create<typeof RampGateResultSchema>>[1]) =>
  create(RampGateResultSchema, init);

function rampEvent(init: Parameters<typeof create<typeof RampEventSchema>>[1]): RampEvent {
  return create(RampEventSchema, init);
}

function experiment(opts: {
  status?: ExperimentStatus;
  mode?: RampMode;
  step?: number;
  steps?: number[];
}) {
  const steps = opts.steps ?? [10, 50, 100];
  const step = opts.step ?? 0;
  return create(ExperimentSchema, {
    id: "e1",
    status: opts.status ?? ExperimentStatus.RUNNING,
    audiencePercent: 80,
    rampPlan: { steps, safetyAction: RampSafetyAction.STEP_BACK },
    ramp: {
      mode: opts.mode ?? RampMode.AUTO,
      stepIndex: step,
      stepPercent: steps[step] ?? 0,
      effectiveAudiencePercent: ((steps[step] ?? 0) * 80) / 100,
    },
  });
}

describe("ramp words", () => {
  it("writes steps, shares and durations", () => {
    expect(stepTrail([1, 5, 10, 25, 50, 100])).toBe("1 % → 5 % → 10 % → 25 % → 50 % → 100 %");
    expect(formatStepPercent(2.5)).toBe("2.5 %");
    expect(formatStepPercent(undefined)).toBe("—");
    expect(formatFraction(0.1)).toBe("10 %");
    expect(formatFraction(0.07)).toBe("7 %");
    expect(formatFraction(0.025)).toBe("2.5 %");
    expect(formatDuration(0)).toBe("0 s");
    expect(formatDuration(45)).toBe("45 s");
    expect(formatDuration(300)).toBe("5 min");
    expect(formatDuration(5_400)).toBe("1 h 30 min");
    expect(formatDuration(3 * 86_400 + 7_200 + 60)).toBe("3 d 2 h");
    expect(formatDuration(-1)).toBe("—");
  });

  it("names every mode and safety action in words", () => {
    expect(
      [RampMode.AUTO, RampMode.HOLD, RampMode.MANUAL, RampMode.DONE, RampMode.UNSPECIFIED].map(
        modeLabel,
      ),
    ).toEqual(["Autopilot", "Held", "Manual", "Done", "Not started"]);
    expect(safetyActionLabel(RampSafetyAction.STEP_BACK)).toMatch(/^Step back one step/);
    expect(safetyActionLabel(RampSafetyAction.PAUSE)).toMatch(/^Pause the experiment/);
    expect(safetyActionLabel(RampSafetyAction.ROLLBACK)).toMatch(/^Roll back to control/);
  });

  it("describes the configured gates, optional ones as not checked", () => {
    const rules = gateRules(
      create(RampGatesSchema, {
        minStepSeconds: 3_600,
        minExposures: 1_000,
        thresholds: [
          { metricKey: "error_rate", threshold: 0.02, direction: Direction.INCREASE_IS_BAD },
          { metricKey: "conversion_rate", threshold: 0.1, direction: Direction.DECREASE_IS_BAD },
        ],
        maxTrafficSkew: 0.1,
      }),
    );
    const byTerm = Object.fromEntries(rules.map((r) => [r.term, r.value]));
    expect(byTerm).toMatchObject({
      "Time on each step": "at least 1 h (waits)",
      "Exposures on each step": "at least 1,000, all variants (waits)",
      "Exposures per variant": "no minimum",
      "Threshold on error_rate": "a treatment above 0.02 runs the safety action",
      "Threshold on conversion_rate": "a treatment below 0.1 runs the safety action",
      "Sample ratio mismatch": "a mismatch over the step (p < 0.001) holds the ramp",
      "Traffic skew": "a variant more than 10 % off its weight's share holds the ramp",
      "Rejected events": "not checked",
    });
    expect(gateRules(create(RampGatesSchema, { allowSrm: true }))).toContainEqual({
      term: "Sample ratio mismatch",
      value: "allowed (not checked)",
    });
  });

  it("shows each gate's figures in its unit, with the comparison that passes", () => {
    const cases: [string, number, number, string, string][] = [
      ["min_step_seconds", 90, 3_600, "1 min 30 s", "≥ 1 h"],
      ["min_exposures", 12_345, 20_000, "12,345", "≥ 20,000"],
      ["min_exposures_per_variant", 0, 20, "0", "≥ 20"],
      ["guardrail", 1, 0, "1 fired", "none fired"],
      ["srm", 0.0004, 0.001, "p < 0.001", "p ≥ 0.001"],
      ["traffic_skew", 0.125, 0.1, "12.5 %", "≤ 10 %"],
      ["rejected_share", 0.004, 0.05, "0.4 %", "≤ 5 %"],
      ["threshold", 0.031, 0.02, "0.031", "0.02"],
    ];
    for (const [name, observed, threshold, shown, needed] of cases) {
      const g = gate({ gate: name, observed, threshold, passed: false, effect: "wait" });
      expect([name, gateObserved(g), gateThreshold(g)]).toEqual([name, shown, needed]);
    }
    expect(
      failedGateLine(
        gate({ gate: "min_exposures", observed: 0, threshold: 20, passed: false, effect: "wait" }),
      ),
    ).toBe("Exposures: 0 observed, ≥ 20 needed (waits)");
  });

  it("names history entries: Blocked or Held by the failing gates' effect, manual commands by name", () => {
    const waiting = gate({ gate: "min_exposures", passed: false, effect: "wait" });
    const srm = gate({ gate: "srm", passed: false, effect: "hold" });
    const label = (init: Parameters<typeof rampEvent>[0]) => eventKindLabel(rampEvent(init));
    expect(label({ kind: RampEventKind.STARTED })).toBe("Started");
    expect(label({ kind: RampEventKind.ADVANCED })).toBe("Moved up");
    expect(label({ kind: RampEventKind.BLOCKED, gates: [waiting] })).toBe("Blocked");
    expect(label({ kind: RampEventKind.BLOCKED, gates: [waiting, srm] })).toBe("Held");
    expect(
      label({
        kind: RampEventKind.SAFETY_ACTION,
        safetyAction: RampSafetyAction.STEP_BACK,
        fromStep: 1,
        toStep: 0,
      }),
    ).toBe("Safety action: stepped back");
    // At the first step a step back pauses instead.
    expect(
      label({ kind: RampEventKind.SAFETY_ACTION, safetyAction: RampSafetyAction.STEP_BACK }),
    ).toBe("Safety action: paused");
    expect(label({ kind: RampEventKind.MANUAL, control: RampControl.SKIP })).toBe(
      "Manual: Skip a step",
    );
    expect(eventActor(rampEvent({ actorId: "" }), ME)).toBe("autopilot");
    expect(eventActor(rampEvent({ actorId: ME }), ME)).toBe("you (11111111…)");
    expect(eventActor(rampEvent({ actorId: OTHER }), ME)).toBe("22222222…");
    expect(
      percentChange(rampEvent({ fromStep: 0, toStep: 1, fromPercent: 10, toPercent: 50 })),
    ).toBe("10 % → 50 %");
    expect(
      percentChange(rampEvent({ fromStep: 1, toStep: 1, fromPercent: 50, toPercent: 50 })),
    ).toBe("at 50 %");
  });
});

describe("availableControls", () => {
  const names = (e: ReturnType<typeof experiment>) =>
    availableControls(e).map((c) => RampControl[c]);

  it("offers what the server accepts in each mode and step", () => {
    expect(names(experiment({}))).toEqual(["MANUAL", "HOLD", "ADVANCE", "SKIP"]);
    expect(names(experiment({ step: 1, mode: RampMode.HOLD }))).toEqual([
      "MANUAL",
      "RESUME_AUTOPILOT",
      "ADVANCE",
      "STEP_BACK",
    ]);
    expect(names(experiment({ step: 2, mode: RampMode.DONE }))).toEqual([
      "MANUAL",
      "HOLD",
      "STEP_BACK",
    ]);
    expect(names(experiment({ step: 1, mode: RampMode.MANUAL }))).toEqual([
      "RESUME_AUTOPILOT",
      "HOLD",
      "ADVANCE",
      "STEP_BACK",
    ]);
  });

  it("moves up only while running, and nothing once completed or before the start", () => {
    expect(names(experiment({ status: ExperimentStatus.PAUSED, step: 1 }))).toEqual([
      "MANUAL",
      "HOLD",
      "STEP_BACK",
    ]);
    expect(names(experiment({ status: ExperimentStatus.COMPLETED, step: 1 }))).toEqual([]);
    const draft = experiment({ status: ExperimentStatus.DRAFT });
    draft.ramp = undefined;
    expect(names(draft)).toEqual([]);
  });

  it("titles each command's form with where it goes", () => {
    const e = experiment({ steps: [1, 5, 25, 100], step: 1 });
    expect(controlForm(e, RampControl.ADVANCE).title).toBe("Advance to 25 %");
    expect(controlForm(e, RampControl.SKIP).title).toBe("Skip to 100 %");
    expect(controlForm(e, RampControl.SKIP).help).toContain("skipping 25 %");
    expect(controlForm(e, RampControl.STEP_BACK).title).toBe("Step back to 1 %");
    expect(rampSentence(e)).toBe("The ramp is at 5 % (step 2 of 4), autopilot.");
  });
});

describe("stepBoundaries and labelRows", () => {
  it("keeps the entries that changed the step, oldest first", () => {
    const at = (iso: string) => timestampFromDate(new Date(iso));
    const events = [
      rampEvent({ kind: RampEventKind.STARTED, at: at("2026-12-07T10:00:00Z"), toPercent: 10 }),
      rampEvent({
        kind: RampEventKind.ADVANCED,
        at: at("2026-12-07T11:00:00Z"),
        fromStep: 0,
        toStep: 1,
        fromPercent: 10,
        toPercent: 50,
      }),
      rampEvent({ kind: RampEventKind.BLOCKED, at: at("2026-12-07T11:30:00Z"), toStep: 0 }),
      rampEvent({
        kind: RampEventKind.MANUAL,
        control: RampControl.STEP_BACK,
        actorId: ME,
        at: at("2026-12-07T12:00:00Z"),
        fromStep: 1,
        toStep: 0,
        fromPercent: 50,
        toPercent: 10,
      }),
    ];
    expect(stepBoundaries(events, ME)).toEqual([
      {
        at: new Date("2026-12-07T11:00:00Z"),
        fromPercent: 10,
        toPercent: 50,
        what: "Moved up",
        who: "autopilot",
      },
      {
        at: new Date("2026-12-07T12:00:00Z"),
        fromPercent: 50,
        toPercent: 10,
        what: "Manual: Step back",
        who: "you (11111111…)",
      },
    ]);
  });

  it("puts close labels on other rows, and drops them when every row is taken", () => {
    expect(labelRows([0, 100, 200], 44, 3)).toEqual([0, 0, 0]);
    expect(labelRows([0, 10, 20, 30, 60], 44, 3)).toEqual([0, 1, 2, -1, 0]);
  });
});

describe("autopilotDrives", () => {
  const at = (status: ExperimentStatus, mode?: RampMode) =>
    create(ExperimentSchema, {
      status,
      ramp: mode === undefined ? undefined : { mode, stepIndex: 0, stepPercent: 10 },
    });

  it("is true only for a live experiment whose ramp is under the autopilot (auto or held)", () => {
    expect(autopilotDrives(at(ExperimentStatus.RUNNING, RampMode.AUTO))).toBe(true);
    expect(autopilotDrives(at(ExperimentStatus.PAUSED, RampMode.HOLD))).toBe(true);
    expect(autopilotDrives(at(ExperimentStatus.RUNNING, RampMode.MANUAL))).toBe(false);
    expect(autopilotDrives(at(ExperimentStatus.RUNNING, RampMode.DONE))).toBe(false);
    expect(autopilotDrives(at(ExperimentStatus.COMPLETED, RampMode.AUTO))).toBe(false);
    expect(autopilotDrives(at(ExperimentStatus.RUNNING))).toBe(false);
    expect(autopilotDrives(undefined)).toBe(false);
  });
});
