/**
 * /flags/new and /flags/:key: create a flag, or view and edit one. Roles that
 * may not edit (and archived flags) get the same form read-only. Server field
 * errors appear at their fields and in a summary.
 */
import { Link, useParams } from "react-router";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { FlagService, FlagType, type Flag } from "../../../../gen/lotty/flags/v1/flags_pb.js";
import {
  ExperimentService,
  ExperimentStatus,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { SERVICES } from "../api/permissions.js";
import { errorFor } from "../api/errors.js";
import {
  buildCreateFlagRequest,
  buildUpdateFlagRequest,
  EMPTY_FLAG_FORM,
  flagToForm,
} from "../api/catalog.js";
import { Field } from "../components/Field.js";
import { Empty, ErrorMessage, Loading } from "../components/Status.js";
import { DescriptionField, KeyField } from "../components/catalog/FormBits.js";
import { CatalogFormShell } from "../components/catalog/CatalogFormShell.js";
import { stamp, useCatalogForm } from "../components/catalog/useCatalogForm.js";
import { formatTime } from "../format/dates.js";
import { enumLabel } from "../format/labels.js";
import { TableHead } from "../components/Table.js";

const TYPES = [FlagType.BOOL, FlagType.STRING, FlagType.NUMBER, FlagType.JSON];

const STARTING_VALUE: Record<number, string> = {
  [FlagType.BOOL]: "false",
  [FlagType.STRING]: "",
  [FlagType.NUMBER]: "0",
  [FlagType.JSON]: "{}",
};

const VALUE_HELP: Record<number, string> = {
  [FlagType.BOOL]: "true or false.",
  [FlagType.STRING]: "Any text up to 10,000 characters, without quotes.",
  [FlagType.NUMBER]: "A finite number, e.g. 3 or 0.25.",
  [FlagType.JSON]: 'Any JSON value up to 64 KiB, e.g. {"color": "blue"}.',
};

export default function FlagFormPage() {
  const { key } = useParams();
  if (key === undefined) return <FlagEditor />;
  return <ExistingFlag flagKey={key} />;
}

function ExistingFlag(props: { flagKey: string }) {
  const flag = useQuery(FlagService.method.getFlag, { key: props.flagKey });
  if (flag.isPending) return <Loading what="the flag" />;
  if (flag.isError || flag.data.flag === undefined) {
    return (
      <>
        <h1>Flag {props.flagKey}</h1>
        <ErrorMessage error={flag.error} title="The flag could not be loaded" />
        <p>
          <Link to="/flags">Back to flags</Link>
        </p>
      </>
    );
  }
  // Re-mount the editor when the stored flag changes, so the form shows the saved values.
  const f = flag.data.flag;
  return <FlagEditor key={`${f.key}:${stamp(f.updatedAt)}`} flag={f} />;
}

function FlagEditor(props: { flag?: Flag }) {
  const { flag } = props;
  const isNew = flag === undefined;
  const ed = useCatalogForm({
    what: "flag",
    service: FlagService,
    policy: SERVICES.flags,
    rpc: "Flag",
    record: flag,
    initial: () => (flag === undefined ? EMPTY_FLAG_FORM : flagToForm(flag)),
  });
  const { form, setForm, set, errs, canEdit } = ed;

  const createFlag = useMutation(FlagService.method.createFlag);
  const updateFlag = useMutation(FlagService.method.updateFlag);
  const archiveFlag = useMutation(FlagService.method.archiveFlag);

  const err = (field: string) =>
    errorFor(errs.errors, field) ?? errorFor(errs.errors, `flag.${field}`);
  const type = isNew ? form.type : flag.type;

  return (
    <CatalogFormShell
      editor={ed}
      back={{ to: "/flags", text: "← Flags" }}
      record={flag}
      banners={
        <>
          {!isNew && flag.archived && (
            <p className="banner warn">
              This flag is archived: Decide no longer serves it and it cannot be changed.
            </p>
          )}
          {!isNew && !flag.archived && !canEdit && (
            <p className="banner">
              You can view this flag; changing it needs the experimenter or admin role.
            </p>
          )}
          {isNew && !canEdit && (
            <p className="banner warn">Creating flags needs the experimenter or admin role.</p>
          )}
        </>
      }
      onSubmit={ed.onSubmit({
        build: () => (isNew ? buildCreateFlagRequest(form) : buildUpdateFlagRequest(form, flag)),
        create: async (built) =>
          (
            await createFlag.mutateAsync(
              built.request as Parameters<typeof createFlag.mutateAsync>[0],
            )
          ).flag?.key ?? form.key.trim(),
        path: (key) => `/flags/${encodeURIComponent(key)}`,
        update: (built) =>
          updateFlag.mutateAsync(built.request as Parameters<typeof updateFlag.mutateAsync>[0]),
      })}
      busy={createFlag.isPending || updateFlag.isPending || archiveFlag.isPending}
      saveLabel="Save flag"
      archive={{
        explanation:
          "Archiving hides the flag, makes Decide answer it as not found and blocks new experiments on it. It cannot be undone. A flag with a running or paused experiment cannot be archived.",
        run: (key) => archiveFlag.mutateAsync({ key }),
        to: (key) => `/flags/${encodeURIComponent(key)}`,
        clearsNotice: true,
        failsInWords: true,
      }}
      after={!isNew && <FlagExperiments flagKey={flag.key} />}
    >
      <KeyField
        isNew={isNew}
        newHelp="Lower-case letters, digits, _ . - ; starts with a letter, e.g. button_color. Cannot change later."
        value={form.key}
        error={err("key")}
        required
        onChange={(v) => set("key", v)}
      />
      <Field
        label="Type"
        help={
          isNew
            ? "The type of every value of the flag. Cannot change later."
            : "The type never changes."
        }
        error={err("type")}
      >
        <select
          name="type"
          value={type}
          disabled={!isNew}
          onChange={(e) => {
            const t = Number(e.target.value) as FlagType;
            setForm((f) => ({ ...f, type: t, defaultValue: STARTING_VALUE[t] ?? "" }));
          }}
        >
          {TYPES.map((t) => (
            <option key={t} value={t}>
              {enumLabel(FlagType, t)}
            </option>
          ))}
        </select>
      </Field>
      <Field
        label="Default value"
        help={`Served when no experiment applies. ${VALUE_HELP[type] ?? ""}`}
        error={err("default_value")}
      >
        {type === FlagType.JSON ? (
          <textarea
            name="defaultValue"
            rows={6}
            spellCheck={false}
            value={form.defaultValue}
            onChange={(e) => set("defaultValue", e.target.value)}
          />
        ) : (
          <input
            name="defaultValue"
            value={form.defaultValue}
            autoComplete="off"
            inputMode={type === FlagType.NUMBER ? "decimal" : undefined}
            list={type === FlagType.BOOL ? "flag-bool-values" : undefined}
            onChange={(e) => set("defaultValue", e.target.value)}
          />
        )}
      </Field>
      <datalist id="flag-bool-values">
        <option value="true" />
        <option value="false" />
      </datalist>
      <DescriptionField
        value={form.description}
        error={err("description")}
        onChange={(v) => set("description", v)}
      />
      <Field
        label="Tags"
        help="Optional, separated by commas: lower-case letters, digits, _ . : - (at most 20)."
        error={err("tags") ?? err("clear_tags")}
      >
        <input
          name="tags"
          value={form.tags}
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => set("tags", e.target.value)}
        />
      </Field>
    </CatalogFormShell>
  );
}

/** Experiments on the flag, newest first. */
function FlagExperiments(props: { flagKey: string }) {
  const list = useQuery(ExperimentService.method.listExperiments, {
    flagKey: props.flagKey,
    pageSize: 20,
  });
  return (
    <section aria-labelledby="flag-experiments">
      <h2 id="flag-experiments">Experiments on this flag</h2>
      {list.isPending ? (
        <Loading what="experiments" />
      ) : list.isError ? (
        <ErrorMessage error={list.error} />
      ) : list.data.experiments.length === 0 ? (
        <Empty>No experiment uses this flag yet.</Empty>
      ) : (
        <table>
          <TableHead columns={["Experiment", "Status", "Updated"]} />
          <tbody>
            {list.data.experiments.map((e) => (
              <tr key={e.id}>
                <td>
                  <Link to={`/experiments/${e.id}`}>{e.name}</Link>
                </td>
                <td>
                  <span className={e.status === ExperimentStatus.RUNNING ? "badge good" : "badge"}>
                    {enumLabel(ExperimentStatus, e.status)}
                  </span>
                </td>
                <td>{formatTime(e.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
