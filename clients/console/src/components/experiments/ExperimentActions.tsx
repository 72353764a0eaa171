/**
 * Review and lifecycle actions of one experiment. A button is shown only
 * when the user's roles allow the call (the same table the server uses),
 * ownership fits, and the status allows the move; the server still decides,
 * and its answer (review policy, concurrent change) is shown next to the
 * actions. Actions that need words (review, completion) open an inline
 * form that replaces the buttons, so each action name is on one button at
 * a time: the form's confirm button repeats it ("Approve").
 */
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { createClient } from "@connectrpc/connect";
import { useTransport } from "@connectrpc/connect-query";
import { useMutation } from "@tanstack/react-query";
import type { User } from "../../../../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentService,
  ExperimentStatus,
  Outcome,
  type Experiment,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { fieldErrors, type FieldError } from "../../api/errors.js";
import { mayManage, mayReview, useInvalidateExperiments } from "../../api/experiments.js";
import { ErrorMessage } from "../Status.js";
import { Field } from "../Field.js";

type FormAction = "approve" | "requestChanges" | "reject" | "complete";

interface Direct {
  name: string;
  method: string;
  done: string;
  danger?: boolean;
  call: () => Promise<unknown>;
}

const FORM_TITLES: Record<FormAction, { name: string; title: string; done: string }> = {
  approve: {
    name: "Approve",
    title: "Approve this experiment",
    done: "Your approval was recorded.",
  },
  requestChanges: {
    name: "Request changes",
    title: "Request changes",
    done: "Changes requested: the experiment is a draft again.",
  },
  reject: { name: "Reject", title: "Reject this experiment", done: "The experiment was rejected." },
  complete: {
    name: "Complete",
    title: "Complete this experiment",
    done: "The experiment was completed.",
  },
};

/** The first server error naming `name` (with or without the "experiment." prefix). */
function errorAt(errors: FieldError[], name: string): string | undefined {
  const hit = errors.find((e) => e.field === name || e.field.endsWith(`.${name}`));
  return hit === undefined ? undefined : hit.message;
}

export function ExperimentActions(props: { experiment: Experiment; user: User }) {
  const e = props.experiment;
  const { user } = props;
  const navigate = useNavigate();
  const transport = useTransport();
  const client = useMemo(() => createClient(ExperimentService, transport), [transport]);
  const invalidate = useInvalidateExperiments();

  const [open, setOpen] = useState<FormAction | undefined>(undefined);
  const [comment, setComment] = useState("");
  const [outcome, setOutcome] = useState<Outcome>(Outcome.UNSPECIFIED);
  const [winner, setWinner] = useState("");
  const [justification, setJustification] = useState("");
  const [confirmation, setConfirmation] = useState("");

  const statusRef = useRef<HTMLParagraphElement>(null);
  const firstInputRef = useRef<HTMLElement | null>(null);
  const groupRef = useRef<HTMLDivElement>(null);
  const returnTo = useRef<string | undefined>(undefined);

  const run = useMutation({
    mutationFn: async (action: { done: string; call: () => Promise<unknown> }) => {
      await action.call();
      return action.done;
    },
    onSuccess: async (done) => {
      setOpen(undefined);
      setComment("");
      setJustification("");
      setOutcome(Outcome.UNSPECIFIED);
      setWinner("");
      setConfirmation(done);
      await invalidate();
      statusRef.current?.focus();
    },
  });

  // Opening a form moves focus into it; cancelling returns to its button.
  useEffect(() => {
    if (open !== undefined) firstInputRef.current?.focus();
  }, [open]);
  useEffect(() => {
    if (open === undefined && returnTo.current !== undefined) {
      groupRef.current
        ?.querySelector<HTMLButtonElement>(`button[data-action="${returnTo.current}"]`)
        ?.focus();
      returnTo.current = undefined;
    }
  }, [open]);

  const s = e.status;
  const id = e.id;
  const direct: Direct[] = [];
  if (s === ExperimentStatus.DRAFT && mayManage(user, e, "SubmitExperiment")) {
    direct.push({
      name: "Submit for review",
      method: "submit",
      done: "Submitted for review.",
      call: () => client.submitExperiment({ id }),
    });
  }
  if (s === ExperimentStatus.REJECTED && mayManage(user, e, "ReworkExperiment")) {
    direct.push({
      name: "Rework",
      method: "rework",
      done: "The experiment is a draft again.",
      call: () => client.reworkExperiment({ id }),
    });
  }
  if (s === ExperimentStatus.APPROVED && mayManage(user, e, "StartExperiment")) {
    direct.push({
      name: "Start",
      method: "start",
      done: "The experiment is running.",
      call: () => client.startExperiment({ id }),
    });
  }
  if (s === ExperimentStatus.RUNNING && mayManage(user, e, "PauseExperiment")) {
    direct.push({
      name: "Pause",
      method: "pause",
      done: "The experiment is paused.",
      call: () => client.pauseExperiment({ id }),
    });
  }
  if (s === ExperimentStatus.PAUSED && mayManage(user, e, "ResumeExperiment")) {
    direct.push({
      name: "Resume",
      method: "resume",
      done: "The experiment is running again.",
      call: () => client.resumeExperiment({ id }),
    });
  }
  if (s === ExperimentStatus.COMPLETED && mayManage(user, e, "ArchiveExperiment")) {
    direct.push({
      name: "Archive",
      method: "archive",
      done: "The experiment was archived.",
      call: () => client.archiveExperiment({ id }),
    });
  }
  const forms: FormAction[] = [];
  if (s === ExperimentStatus.IN_REVIEW) {
    if (mayReview(user, e, "ApproveExperiment")) forms.push("approve");
    if (mayReview(user, e, "RequestChanges")) forms.push("requestChanges");
    if (mayReview(user, e, "RejectExperiment")) forms.push("reject");
  }
  if (
    (s === ExperimentStatus.RUNNING || s === ExperimentStatus.PAUSED) &&
    mayManage(user, e, "CompleteExperiment")
  ) {
    forms.push("complete");
  }
  const canEdit = s === ExperimentStatus.DRAFT && mayManage(user, e, "UpdateExperiment");
  const nothing = direct.length === 0 && forms.length === 0 && !canEdit;

  function openForm(action: FormAction) {
    run.reset();
    setConfirmation("");
    setOpen(action);
  }

  function cancel() {
    run.reset();
    returnTo.current = open;
    setOpen(undefined);
  }

  function submitForm(event: FormEvent) {
    event.preventDefault();
    switch (open) {
      case "approve":
        run.mutate({
          done: FORM_TITLES.approve.done,
          call: () => client.approveExperiment({ id, comment }),
        });
        break;
      case "requestChanges":
        run.mutate({
          done: FORM_TITLES.requestChanges.done,
          call: () => client.requestChanges({ id, comment }),
        });
        break;
      case "reject":
        run.mutate({
          done: FORM_TITLES.reject.done,
          call: () => client.rejectExperiment({ id, comment }),
        });
        break;
      case "complete":
        run.mutate({
          done: FORM_TITLES.complete.done,
          call: () =>
            client.completeExperiment({
              id,
              outcome,
              winnerVariantKey: outcome === Outcome.ROLLOUT ? winner : "",
              justification,
            }),
        });
        break;
    }
  }

  const errors = run.isError ? fieldErrors(run.error) : [];
  const setFirst = (el: HTMLElement | null) => {
    firstInputRef.current = el;
  };

  return (
    <section aria-labelledby="exp-actions-heading" className="exp-actions">
      <h2 id="exp-actions-heading" className="visually-hidden">
        Actions
      </h2>
      {open === undefined ? (
        <div className="actions" ref={groupRef}>
          {canEdit && (
            <button type="button" onClick={() => void navigate(`/experiments/${id}/edit`)}>
              Edit
            </button>
          )}
          {direct.map((a) => (
            <button
              key={a.name}
              type="button"
              data-action={a.method}
              className={a.danger === true ? "danger" : "primary"}
              disabled={run.isPending}
              onClick={() => {
                setConfirmation("");
                run.mutate({ done: a.done, call: a.call });
              }}
            >
              {a.name}
            </button>
          ))}
          {forms.map((f) => (
            <button
              key={f}
              type="button"
              data-action={f}
              className={f === "reject" ? "danger" : undefined}
              disabled={run.isPending}
              onClick={() => openForm(f)}
            >
              {FORM_TITLES[f].name}
            </button>
          ))}
          {nothing && <p className="help">No actions are available to you in this status.</p>}
        </div>
      ) : (
        <form
          className="panel exp-action-form"
          aria-labelledby="exp-action-form-title"
          onSubmit={submitForm}
          noValidate
        >
          <h3 id="exp-action-form-title">{FORM_TITLES[open].title}</h3>
          {open === "complete" ? (
            <>
              <Field label="Outcome" error={errorAt(errors, "outcome")}>
                <select
                  ref={setFirst}
                  required
                  value={outcome}
                  onChange={(ev) => setOutcome(Number(ev.target.value) as Outcome)}
                >
                  <option value={Outcome.UNSPECIFIED} disabled>
                    Choose an outcome
                  </option>
                  <option value={Outcome.ROLLOUT}>Roll out the winner</option>
                  <option value={Outcome.ROLLBACK}>Roll back to control</option>
                  <option value={Outcome.NO_EFFECT}>No effect</option>
                </select>
              </Field>
              {outcome === Outcome.ROLLOUT && (
                <Field
                  label="Winner"
                  help="Completing does not change the flag: set its default on the flag page to ship the winner."
                  error={errorAt(errors, "winner_variant_key")}
                >
                  <select required value={winner} onChange={(ev) => setWinner(ev.target.value)}>
                    <option value="" disabled>
                      Choose the winning variant
                    </option>
                    {e.variants.map((v) => (
                      <option key={v.key} value={v.key}>
                        {v.key}
                        {v.control ? " (control)" : ""}
                      </option>
                    ))}
                  </select>
                </Field>
              )}
              <Field
                label="Justification"
                help="Why this outcome: the evidence and reasoning, kept with the experiment."
                error={errorAt(errors, "justification")}
              >
                <textarea
                  required
                  rows={4}
                  value={justification}
                  onChange={(ev) => setJustification(ev.target.value)}
                />
              </Field>
            </>
          ) : (
            <Field
              label="Comment"
              help={
                open === "approve" ? "Optional." : "Required: tell the owner what to change or why."
              }
              error={errorAt(errors, "comment")}
            >
              <textarea
                ref={setFirst}
                rows={3}
                required={open !== "approve"}
                maxLength={2000}
                value={comment}
                onChange={(ev) => setComment(ev.target.value)}
              />
            </Field>
          )}
          <div className="actions">
            <button
              type="submit"
              className={open === "reject" ? "danger" : "primary"}
              disabled={run.isPending}
            >
              {FORM_TITLES[open].name}
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
      {run.isError && <ErrorMessage error={run.error} title="The action failed" />}
      <p className="exp-confirmation" role="status" tabIndex={-1} ref={statusRef}>
        {confirmation}
      </p>
    </section>
  );
}
