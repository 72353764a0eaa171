/**
 * The frame of a record editor (flags, event types, metrics): back link,
 * heading, notice and banners, created/updated times, the form with its error
 * summary and submit/cancel row, and the archive panel.
 */
import type { FormEvent, ReactNode } from "react";
import { Link } from "react-router";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { formatTime } from "../../format/dates.js";
import { ErrorSummary } from "../ErrorSummary.js";
import { FormActions } from "../FormActions.js";
import { ErrorMessage } from "../Status.js";
import { ArchivePanel, KeyNameFields } from "./FormBits.js";
import { capitalized, type ArchiveSpec, type CatalogFormState } from "./useCatalogForm.js";

/** The link back to the list, above the heading. */
export function BackLink(props: { to: string; text: string }) {
  return (
    <p>
      <Link to={props.to}>{props.text}</Link>
    </p>
  );
}

/** The record's stored times. */
export function RecordTimes(props: { createdAt?: Timestamp; updatedAt?: Timestamp }) {
  return (
    <dl className="props panel">
      <dt>Created</dt>
      <dd>{formatTime(props.createdAt)}</dd>
      <dt>Updated</dt>
      <dd>{formatTime(props.updatedAt)}</dd>
    </dl>
  );
}

/**
 * The heading reads "New <what>" or "<What> <key>" (the form is named the
 * same), the submit button "Create <what>" or `saveLabel`.
 */
export function CatalogFormShell(props: {
  editor: Pick<
    CatalogFormState,
    "what" | "What" | "notice" | "errs" | "canEdit" | "canArchive" | "archivePanel"
  >;
  back: { to: string; text: string };
  /** The stored record; undefined while creating. */
  record: { key: string; createdAt?: Timestamp; updatedAt?: Timestamp } | undefined;
  /** Banners between the notice and the record's times. */
  banners?: ReactNode;
  onSubmit(event: FormEvent): void;
  busy: boolean;
  /** The submit button's text when editing; "Save" unless told. */
  saveLabel?: string;
  archive: ArchiveSpec;
  /** The form's fields. */
  children: ReactNode;
  /** After the archive panel. */
  after?: ReactNode;
}) {
  const { editor, record, busy } = props;
  const title = record === undefined ? `New ${editor.what}` : `${editor.What} ${record.key}`;
  return (
    <>
      <BackLink {...props.back} />
      <h1>{title}</h1>
      {editor.notice !== undefined && (
        <p className="banner good" role="status">
          {editor.notice}
        </p>
      )}
      {props.banners}
      {record !== undefined && (
        <RecordTimes createdAt={record.createdAt} updatedAt={record.updatedAt} />
      )}
      <form onSubmit={props.onSubmit} noValidate aria-label={title}>
        <fieldset disabled={!editor.canEdit || busy} className="plain">
          <legend className="visually-hidden">{editor.What} settings</legend>
          {props.children}
        </fieldset>
        <ErrorSummary errors={editor.errs.errors} general={editor.errs.general} />
        {editor.canEdit && (
          <FormActions
            submitLabel={
              record === undefined ? `Create ${editor.what}` : (props.saveLabel ?? "Save")
            }
            busy={busy}
            cancelTo={props.back.to}
          />
        )}
      </form>
      {editor.canArchive && record !== undefined && (
        <ArchivePanel busy={busy} {...editor.archivePanel(record.key, props.archive)} />
      )}
      {props.after}
    </>
  );
}

// ---------------------------------------------------------------- catalog editors

/** "← Catalog", the back link of the catalog editors. */
export const CATALOG_BACK = { to: "/catalog", text: "← Catalog" };

/** The heading and error shown when a stored entry cannot be loaded. */
export function CatalogLoadError(props: { what: string; itemKey: string; error: unknown }) {
  return (
    <>
      <BackLink {...CATALOG_BACK} />
      <h1>
        {capitalized(props.what)} {props.itemKey}
      </h1>
      <ErrorMessage error={props.error} title={`The ${props.what} could not be loaded`} />
    </>
  );
}

/**
 * An event type or metric editor: back to the catalog, a banner for roles
 * that may not write (before `alerts`), then key, name and description
 * before the entry's own fields.
 */
export function CatalogEntryShell(props: {
  editor: Parameters<typeof CatalogFormShell>[0]["editor"] &
    Pick<CatalogFormState, "mayWrite"> & {
      form: { key: string; name: string; description: string };
      set(field: "key" | "name" | "description", value: string): void;
    };
  record: { key: string; createdAt?: Timestamp; updatedAt?: Timestamp } | undefined;
  banners?: ReactNode;
  alerts?: ReactNode;
  onSubmit(event: FormEvent): void;
  busy: boolean;
  archive: ArchiveSpec;
  /** Help for the key while creating. */
  newKeyHelp: string;
  err(field: string): string | undefined;
  children: ReactNode;
}) {
  const { editor } = props;
  return (
    <CatalogFormShell
      editor={editor}
      back={CATALOG_BACK}
      record={props.record}
      banners={
        <>
          {props.banners}
          {!editor.mayWrite && (
            <p className="banner">Changing the catalog needs the experimenter or admin role.</p>
          )}
          {props.alerts}
        </>
      }
      onSubmit={props.onSubmit}
      busy={props.busy}
      archive={props.archive}
    >
      <KeyNameFields
        isNew={props.record === undefined}
        newKeyHelp={props.newKeyHelp}
        form={editor.form}
        set={editor.set}
        err={props.err}
      />
      {props.children}
    </CatalogFormShell>
  );
}
