/**
 * /saved-segments/new and /saved-segments/:key: create a saved segment, or
 * view and edit one (each save is a new version), see its versions and the
 * experiments using it, and delete it when none does. Server field errors
 * (a rule that does not parse, with its position) appear at their fields
 * and in a summary. Roles that may not write get the form read-only.
 */
import { useId, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { CatalogService, type SavedSegment } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { SERVICES, may } from "../api/permissions.js";
import { useUser } from "../api/session.js";
import { describeError, errorFor } from "../api/errors.js";
import {
  buildCreateSavedSegmentRequest,
  buildUpdateSavedSegmentRequest,
  describeUser,
  EMPTY_SAVED_SEGMENT_FORM,
  savedSegmentToForm,
} from "../api/savedSegments.js";
import { Field } from "../components/Field.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { DescriptionField, KeyField } from "../components/catalog/FormBits.js";
import { BackLink, RecordTimes } from "../components/catalog/CatalogFormShell.js";
import { stamp, useCatalogForm } from "../components/catalog/useCatalogForm.js";
import { ErrorSummary } from "../components/ErrorSummary.js";
import { FormActions } from "../components/FormActions.js";
import { TableHead } from "../components/Table.js";
import { formatTime } from "../format/dates.js";

const BACK = { to: "/saved-segments", text: "← Saved segments" };

export default function SavedSegmentFormPage() {
  const { key } = useParams();
  if (key === undefined) return <SavedSegmentEditor />;
  return <ExistingSavedSegment segmentKey={key} />;
}

function ExistingSavedSegment(props: { segmentKey: string }) {
  const query = useQuery(CatalogService.method.getSavedSegment, { key: props.segmentKey });
  if (query.isPending) return <Loading what="the saved segment" />;
  if (query.isError || query.data.savedSegment === undefined) {
    return (
      <>
        <BackLink {...BACK} />
        <h1>Saved segment {props.segmentKey}</h1>
        <ErrorMessage error={query.error} title="The saved segment could not be loaded" />
      </>
    );
  }
  const s = query.data.savedSegment;
  // Re-mount the editor when the stored segment changes, so the form shows the saved values.
  return <SavedSegmentEditor key={`${s.key}:${s.version}:${stamp(s.updatedAt)}`} stored={s} />;
}

function SavedSegmentEditor(props: { stored?: SavedSegment }) {
  const { stored } = props;
  const isNew = stored === undefined;
  const ed = useCatalogForm({
    what: "saved segment",
    service: CatalogService,
    policy: SERVICES.catalog,
    rpc: "SavedSegment",
    record: stored === undefined ? undefined : { archived: false },
    initial: () => (stored === undefined ? EMPTY_SAVED_SEGMENT_FORM : savedSegmentToForm(stored)),
  });
  const { form, set, errs, canEdit } = ed;
  const createSegment = useMutation(CatalogService.method.createSavedSegment);
  const updateSegment = useMutation(CatalogService.method.updateSavedSegment);
  const busy = createSegment.isPending || updateSegment.isPending;
  const err = (field: string) =>
    errorFor(errs.errors, `saved_segment.${field}`) ?? errorFor(errs.errors, field);
  const title = isNew ? "New saved segment" : `Saved segment ${stored.key}`;

  return (
    <>
      <BackLink {...BACK} />
      <h1>{title}</h1>
      {ed.notice !== undefined && (
        <p className="banner good" role="status">
          {ed.notice}
        </p>
      )}
      {!canEdit && (
        <p className="banner">
          {isNew
            ? "Creating saved segments needs the experimenter or admin role."
            : "You can view this saved segment; changing it needs the experimenter or admin role."}
        </p>
      )}
      {stored !== undefined && (
        <RecordTimes createdAt={stored.createdAt} updatedAt={stored.updatedAt} />
      )}
      <form
        noValidate
        aria-label={title}
        onSubmit={ed.onSubmit({
          build: () =>
            isNew
              ? buildCreateSavedSegmentRequest(form)
              : buildUpdateSavedSegmentRequest(form, stored),
          create: async (built) =>
            (
              await createSegment.mutateAsync(
                built as Parameters<typeof createSegment.mutateAsync>[0],
              )
            ).savedSegment?.key ?? form.key.trim(),
          path: (key) => `/saved-segments/${encodeURIComponent(key)}`,
          update: (built) =>
            updateSegment.mutateAsync(built as Parameters<typeof updateSegment.mutateAsync>[0]),
        })}
      >
        <fieldset disabled={!canEdit || busy} className="plain">
          <legend className="visually-hidden">Saved segment settings</legend>
          <KeyField
            isNew={isNew}
            newHelp='Letters, digits and _, starting with a letter or _, e.g. power_users. Rules use it as segment("power_users"). Cannot change later.'
            value={form.key}
            error={err("key")}
            required
            onChange={(v) => set("key", v)}
          />
          <Field label="Name" help="Required, at most 200 characters." error={err("display_name")}>
            <input
              name="displayName"
              value={form.displayName}
              autoComplete="off"
              required
              onChange={(e) => set("displayName", e.target.value)}
            />
          </Field>
          <DescriptionField
            value={form.description}
            error={err("description")}
            onChange={(v) => set("description", v)}
          />
          <Field
            label="Rule"
            help='A targeting rule over subject attributes, e.g. sessions_30d >= 20 AND platform IN ["ios", "android"]. It cannot use segment(…). Saving makes a new version; experiments keep the version they were saved with.'
            error={err("rule")}
          >
            <textarea
              name="rule"
              rows={4}
              spellCheck={false}
              className="code"
              value={form.rule}
              onChange={(e) => set("rule", e.target.value)}
            />
          </Field>
        </fieldset>
        <ErrorSummary errors={errs.errors} general={errs.general} />
        {canEdit && (
          <FormActions
            submitLabel={isNew ? "Create saved segment" : "Save new version"}
            busy={busy}
            cancelTo={BACK.to}
          />
        )}
      </form>
      {stored !== undefined && (
        <>
          <UsedBy stored={stored} />
          <Versions segmentKey={stored.key} current={stored.version} />
          <DeletePanel stored={stored} />
        </>
      )}
    </>
  );
}

function UsedBy(props: { stored: SavedSegment }) {
  const headingId = useId();
  const users = props.stored.usedBy;
  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId}>Used by</h2>
      {users.length === 0 ? (
        <Empty>No experiment that is still open uses this saved segment.</Empty>
      ) : (
        <ul className="plain-list">
          {users.map((u) => (
            <li key={u.experimentId}>
              <Link to={`/experiments/${u.experimentId}`}>{describeUser(u)}</Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Versions(props: { segmentKey: string; current: number }) {
  const headingId = useId();
  const list = useQuery(CatalogService.method.listSavedSegmentVersions, { key: props.segmentKey });
  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId}>Versions</h2>
      {list.isPending ? (
        <Loading what="versions" />
      ) : list.isError ? (
        <ErrorMessage error={list.error} />
      ) : (
        <table>
          <caption className="visually-hidden">Versions of the saved segment, newest first</caption>
          <TableHead columns={["Version", "Rule", "Name", "Saved"]} />
          <tbody>
            {[...list.data.versions].reverse().map((v) => (
              <tr key={v.version}>
                <td>
                  {v.version}
                  {v.version === props.current && <span className="badge good"> current</span>}
                </td>
                <td>
                  <code>{v.rule}</code>
                </td>
                <td>{v.displayName}</td>
                <td>{formatTime(v.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function DeletePanel(props: { stored: SavedSegment }) {
  const { user } = useUser();
  const navigate = useNavigate();
  const headingId = useId();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(CatalogService.method.deleteSavedSegment);
  const errs = useCatalogFormErrors();
  if (!may(user.roles, SERVICES.catalog, "DeleteSavedSegment")) return null;
  const key = props.stored.key;
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h2 id={headingId}>Delete</h2>
      <p>
        Deleting removes the saved segment from lists and rules; its key stays taken and its
        versions stay readable. It is refused while an experiment that is not completed or archived
        uses it.
      </p>
      {errs.message !== undefined && (
        <p className="error" role="alert">
          {errs.message}
        </p>
      )}
      {confirming ? (
        <div className="actions" role="group" aria-label="Confirm deleting">
          <button
            type="button"
            className="danger"
            disabled={remove.isPending}
            onClick={() => {
              errs.clear();
              remove.mutateAsync({ key }).then(
                () => void navigate("/saved-segments", { replace: true }),
                (e: unknown) => {
                  errs.fail(e);
                  setConfirming(false);
                },
              );
            }}
          >
            Yes, delete {key}
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Keep the saved segment
          </button>
        </div>
      ) : (
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Delete saved segment
        </button>
      )}
    </section>
  );
}

/** A failure of the delete, in words. */
function useCatalogFormErrors() {
  const [message, setMessage] = useState<string | undefined>();
  return {
    message,
    clear: () => setMessage(undefined),
    fail: (e: unknown) => setMessage(describeError(e)),
  };
}
