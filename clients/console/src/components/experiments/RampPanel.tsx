/**
 * The autopilot ramp of an experiment with a ramp plan: the steps with the
 * current one marked, the mode, the effective audience, the gates and the
 * safety action; the autopilot's last evaluation gate by gate; the manual
 * commands for the owner or an admin (each with a required comment, like
 * the review actions); and the ramp's history, newest first.
 */
import { Fragment, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { useMutation } from "@tanstack/react-query";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { User } from "../../../../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentService,
  RampControl,
  RampMode,
  RampSafetyAction,
  type Experiment,
  type RampEvent,
  type RampGateResult,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { fieldErrors } from "../../api/errors.js";
import { mayManage, useInvalidateExperiments } from "../../api/experiments.js";
import { formatAgo, formatTime } from "../../format/dates.js";
import { Empty, ErrorMessage, Loading } from "../Status.js";
import { Field } from "../Field.js";
import { TableHead } from "../Table.js";
import {
  autopilotDrives,
  availableControls,
  controlForm,
  controlLabel,
  eventActor,
  eventKindLabel,
  eventTone,
  failedGateLine,
  formatStepPercent,
  gateEffectLabel,
  gateName,
  gateObserved,
  gateRules,
  gateThreshold,
  modeHelp,
  modeLabel,
  percentChange,
  RAMP_REFRESH_MS,
  rampSentence,
  safetyActionLabel,
} from "./ramp.js";

/** History entries shown before "Show all". */
const HISTORY_SHOWN = 10;

function modeTone(mode: RampMode): string {
  switch (mode) {
    case RampMode.AUTO:
    case RampMode.DONE:
      return "good";
    case RampMode.HOLD:
      return "warn";
    default:
      return "";
  }
}

function isoOf(ts: Timestamp | undefined): string | undefined {
  return ts === undefined ? undefined : timestampDate(ts).toISOString();
}

export function RampPanel(props: { experiment: Experiment; user: User }) {
  const e = props.experiment;
  const steps = e.rampPlan?.steps ?? [];
  const r = e.ramp;
  const current = r?.stepIndex ?? -1;
  return (
    <section aria-labelledby="ramp-heading" className="ramp">
      <h2 id="ramp-heading">Autopilot ramp</h2>
      <div className="grid-2">
        <div className="panel">
          <h3>Plan</h3>
          <ol className="ramp-steps" aria-label="Steps, in percent of the audience">
            {steps.map((p, i) => (
              <li
                key={i}
                aria-current={i === current ? "step" : undefined}
                className={i < current ? "past" : i === current ? "current" : undefined}
              >
                {i > 0 && (
                  <span className="ramp-arrow" aria-hidden="true">
                    →
                  </span>
                )}
                <span className="ramp-step">
                  <span className="ramp-step-mark" aria-hidden="true">
                    {i < current ? "✓" : i === current ? "●" : "○"}
                  </span>
                  {formatStepPercent(p)}
                </span>
              </li>
            ))}
          </ol>
          <dl className="props">
            <dt>Mode</dt>
            <dd>
              <span className={`badge ${modeTone(r?.mode ?? RampMode.UNSPECIFIED)}`}>
                {modeLabel(r?.mode ?? RampMode.UNSPECIFIED)}
              </span>{" "}
              <span className="muted">{modeHelp(r?.mode ?? RampMode.UNSPECIFIED)}</span>
            </dd>
            <dt>Current step</dt>
            <dd data-testid="ramp-current">
              {r === undefined
                ? "not started"
                : `${formatStepPercent(r.stepPercent)} of the audience (step ${r.stepIndex + 1} of ${steps.length})`}
            </dd>
            <dt>Effective audience</dt>
            <dd data-testid="ramp-effective">
              {r === undefined
                ? "—"
                : `${formatStepPercent(r.effectiveAudiencePercent)} of all traffic (${formatStepPercent(e.audiencePercent)} audience × ${formatStepPercent(r.stepPercent)})`}
            </dd>
            <dt>Step began</dt>
            <dd>
              {r?.stepStartedAt === undefined ? (
                "—"
              ) : (
                <>
                  <time dateTime={isoOf(r.stepStartedAt)}>{formatTime(r.stepStartedAt)}</time> (
                  {formatAgo(r.stepStartedAt)})
                </>
              )}
            </dd>
            <dt>Safety action</dt>
            <dd>{safetyActionLabel(e.rampPlan?.safetyAction ?? RampSafetyAction.UNSPECIFIED)}</dd>
          </dl>
        </div>
        <div className="panel">
          <h3>Gates</h3>
          <p className="help">
            Checked on each step&apos;s own figures. Sufficiency gates wait, data-health gates hold
            the ramp, safety gates run the safety action.
          </p>
          <dl className="props" data-testid="ramp-gate-rules">
            {gateRules(e.rampPlan?.gates).map((g, i) => (
              <Fragment key={i}>
                <dt>{g.term}</dt>
                <dd>{g.value}</dd>
              </Fragment>
            ))}
          </dl>
        </div>
      </div>
      {r !== undefined && (
        <LastEvaluation gates={r.lastGates} at={r.lastEvaluatedAt} mode={r.mode} />
      )}
      {r !== undefined && <RampControls experiment={e} user={props.user} />}
      {r !== undefined && <RampHistory id={e.id} me={props.user.id} live={autopilotDrives(e)} />}
    </section>
  );
}

function LastEvaluation(props: {
  gates: readonly RampGateResult[];
  at: Timestamp | undefined;
  mode: RampMode;
}) {
  const failed = props.gates.filter((g) => !g.passed).length;
  return (
    <>
      <h3 id="ramp-evaluation-heading">Last evaluation</h3>
      {props.gates.length === 0 ? (
        <Empty>
          No evaluation on this step yet
          {props.mode === RampMode.MANUAL ? " (the autopilot does not evaluate a manual ramp)" : ""}
          .
        </Empty>
      ) : (
        <>
          <p>
            By the autopilot{" "}
            <time dateTime={isoOf(props.at)} title={formatTime(props.at)}>
              {formatAgo(props.at)}
            </time>{" "}
            ({formatTime(props.at)}), on this step:{" "}
            <strong>
              {failed === 0
                ? "every gate passed"
                : `${failed} of ${props.gates.length} gates failed`}
            </strong>
            .
          </p>
          <div className="results-table-wrap">
            <table className="compact ramp-gates" aria-labelledby="ramp-evaluation-heading">
              <TableHead
                columns={[
                  "Gate",
                  "Result",
                  { label: "Observed", num: true },
                  { label: "Needed", num: true },
                  "On failure",
                  "Detail",
                ]}
              />
              <tbody>
                {props.gates.map((g, i) => (
                  <tr key={i}>
                    <th scope="row">{gateName(g.gate)}</th>
                    <td>
                      <span className={`badge ${g.passed ? "good" : "bad"}`}>
                        <span aria-hidden="true">{g.passed ? "✓ " : "✗ "}</span>
                        {g.passed ? "Passed" : "Failed"}
                      </span>
                    </td>
                    <td className="num">{gateObserved(g)}</td>
                    <td className="num">{gateThreshold(g)}</td>
                    <td>{gateEffectLabel(g.effect)}</td>
                    <td>{g.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

/**
 * The manual commands, for the owner or an admin (the same check as the
 * lifecycle buttons). Each opens an inline form asking for the required
 * comment; its confirm button repeats the command's name. After a command
 * the experiment and the history are read again; after a refusal because
 * the ramp changed meanwhile too, so the page shows what the server saw.
 */
function RampControls(props: { experiment: Experiment; user: User }) {
  const e = props.experiment;
  const transport = useTransport();
  const client = useMemo(() => createClient(ExperimentService, transport), [transport]);
  const invalidate = useInvalidateExperiments();
  const [open, setOpen] = useState<RampControl | undefined>(undefined);
  const [comment, setComment] = useState("");
  const [missing, setMissing] = useState(false);
  const [confirmation, setConfirmation] = useState("");
  const statusRef = useRef<HTMLParagraphElement>(null);
  const commentRef = useRef<HTMLTextAreaElement>(null);
  const groupRef = useRef<HTMLDivElement>(null);
  const returnTo = useRef<RampControl | undefined>(undefined);

  const run = useMutation({
    mutationFn: async (req: { action: RampControl; comment: string }) =>
      (await client.controlRamp({ id: e.id, ...req })).experiment,
    onSuccess: async (experiment) => {
      setOpen(undefined);
      setComment("");
      setConfirmation(rampSentence(experiment));
      await invalidate();
      statusRef.current?.focus();
    },
    onError: async (error) => {
      const code = ConnectError.from(error).code;
      if (code === Code.FailedPrecondition || code === Code.Aborted) await invalidate();
    },
  });

  // Opening a form moves focus into it; cancelling returns to its button.
  useEffect(() => {
    if (open !== undefined) commentRef.current?.focus();
  }, [open]);
  useEffect(() => {
    if (open === undefined && returnTo.current !== undefined) {
      groupRef.current
        ?.querySelector<HTMLButtonElement>(`button[data-control="${returnTo.current}"]`)
        ?.focus();
      returnTo.current = undefined;
    }
  }, [open]);

  if (!mayManage(props.user, e, "ControlRamp")) return null;
  const controls = availableControls(e);

  function openForm(control: RampControl) {
    run.reset();
    setMissing(false);
    setConfirmation("");
    setOpen(control);
  }

  function cancel() {
    run.reset();
    setMissing(false);
    returnTo.current = open;
    setOpen(undefined);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    if (open === undefined) return;
    if (comment.trim() === "") {
      setMissing(true);
      commentRef.current?.focus();
      return;
    }
    setMissing(false);
    run.mutate({ action: open, comment });
  }

  const serverError = run.isError
    ? fieldErrors(run.error).find((f) => f.field === "comment")?.message
    : undefined;
  const form = open === undefined ? undefined : controlForm(e, open);

  return (
    <section aria-labelledby="ramp-controls-heading" className="ramp-controls">
      <h3 id="ramp-controls-heading">Steer the ramp</h3>
      {open === undefined || form === undefined ? (
        <div className="actions" ref={groupRef}>
          {controls.map((c) => (
            <button
              key={c}
              type="button"
              data-control={c}
              className={c === RampControl.ADVANCE ? "primary" : undefined}
              disabled={run.isPending}
              onClick={() => openForm(c)}
            >
              {controlLabel(c)}
            </button>
          ))}
          {controls.length === 0 && <p className="help">No ramp command applies in this status.</p>}
        </div>
      ) : (
        <form
          className="panel exp-action-form"
          aria-labelledby="ramp-form-title"
          onSubmit={submit}
          noValidate
        >
          <h4 id="ramp-form-title" className="ramp-form-title">
            {form.title}
          </h4>
          <p className="help">{form.help}</p>
          <Field
            label="Comment"
            help="Required: why. Kept in the ramp history and the audit history."
            error={missing ? "Write a comment: it is required." : serverError}
          >
            <textarea
              ref={commentRef}
              rows={3}
              required
              maxLength={2000}
              value={comment}
              onChange={(ev) => setComment(ev.target.value)}
            />
          </Field>
          <div className="actions">
            <button type="submit" className="primary" disabled={run.isPending}>
              {controlLabel(open)}
            </button>
            <button type="button" onClick={cancel}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {run.isPending && (
        <p className="status" aria-live="polite">
          Working…
        </p>
      )}
      {run.isError && <ErrorMessage error={run.error} title="The ramp command failed" />}
      <p className="exp-confirmation" role="status" tabIndex={-1} ref={statusRef}>
        {confirmation}
      </p>
    </section>
  );
}

/** The ramp's history, newest first; the ten newest until "Show all". */
function RampHistory(props: { id: string; me: string; live: boolean }) {
  const history = useQuery(
    ExperimentService.method.listRampEvents,
    { id: props.id },
    { refetchInterval: props.live ? RAMP_REFRESH_MS : false },
  );
  const [all, setAll] = useState(false);
  const events = useMemo(() => [...(history.data?.events ?? [])].reverse(), [history.data]);
  const shown = all ? events : events.slice(0, HISTORY_SHOWN);
  return (
    <section aria-labelledby="ramp-history-heading" className="ramp-history">
      <h3 id="ramp-history-heading">Ramp history</h3>
      {history.isPending && <Loading what="the ramp history" />}
      {history.isError && (
        <ErrorMessage error={history.error} title="Could not load the ramp history" />
      )}
      {history.isSuccess &&
        (events.length === 0 ? (
          <Empty>Nothing recorded yet.</Empty>
        ) : (
          <>
            <p className="help">Newest first.</p>
            <ol className="ramp-timeline" data-testid="ramp-history">
              {shown.map((ev) => (
                <RampHistoryEntry key={ev.id} event={ev} me={props.me} />
              ))}
            </ol>
            {events.length > HISTORY_SHOWN && (
              <button type="button" aria-expanded={all} onClick={() => setAll(!all)}>
                {all ? "Show the newest only" : `Show all ${events.length} entries`}
              </button>
            )}
          </>
        ))}
    </section>
  );
}

function RampHistoryEntry(props: { event: RampEvent; me: string }) {
  const ev = props.event;
  const failed = ev.gates.filter((g) => !g.passed);
  return (
    <li className="ramp-entry">
      <p className="ramp-entry-head">
        <time dateTime={isoOf(ev.at)}>{formatTime(ev.at)}</time>
        <span className={`badge ${eventTone(ev)}`}>{eventKindLabel(ev)}</span>
        <span className="ramp-entry-change">{percentChange(ev)}</span>
        <span title={ev.actorId === "" ? undefined : ev.actorId}>
          by {eventActor(ev, props.me)}
        </span>
        <span className="muted">
          mode after: {modeLabel(ev.mode).toLowerCase()} · version {ev.version}
        </span>
      </p>
      {ev.reason !== "" && <p className="ramp-entry-reason exp-prewrap">{ev.reason}</p>}
      {failed.length > 0 && (
        <ul className="ramp-failed" aria-label="Failed gates">
          {failed.map((g, i) => (
            <li key={i}>
              <span aria-hidden="true">✗ </span>
              {failedGateLine(g)}
              {g.detail !== "" && <span className="muted"> — {g.detail}</span>}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
