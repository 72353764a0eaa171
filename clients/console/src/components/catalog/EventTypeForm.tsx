/**
 * Create and edit an event type. Roles that may not write, the built-in
 * `exposure` type and archived types get the form read-only.
 */
import { useMutation, useQuery } from "@connectrpc/connect-query";
import {
  CatalogService,
  PropertyType,
  type EventType,
} from "../../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { SERVICES } from "../../api/permissions.js";
import { errorFor } from "../../api/errors.js";
import {
  buildEventType,
  EMPTY_EVENT_TYPE_FORM,
  eventTypeToForm,
  type PropertyForm,
} from "../../api/catalog.js";
import { Field } from "../Field.js";
import { Loading } from "../Status.js";
import { enumLabel } from "../../format/labels.js";
import { CheckboxField } from "./FormBits.js";
import { CatalogEntryShell, CatalogLoadError } from "./CatalogFormShell.js";
import { stamp, useCatalogForm } from "./useCatalogForm.js";

const PROPERTY_TYPES = [
  PropertyType.STRING,
  PropertyType.NUMBER,
  PropertyType.BOOL,
  PropertyType.TIMESTAMP,
];

export function ExistingEventType(props: { typeKey: string }) {
  const q = useQuery(CatalogService.method.getEventType, { key: props.typeKey });
  if (q.isPending) return <Loading what="the event type" />;
  if (q.isError || q.data.eventType === undefined) {
    return <CatalogLoadError what="event type" itemKey={props.typeKey} error={q.error} />;
  }
  const e = q.data.eventType;
  return <EventTypeForm key={`${e.key}:${stamp(e.updatedAt)}`} eventType={e} />;
}

export function EventTypeForm(props: { eventType?: EventType }) {
  const { eventType } = props;
  const ed = useCatalogForm({
    what: "event type",
    service: CatalogService,
    policy: SERVICES.catalog,
    rpc: "EventType",
    record: eventType,
    initial: () => (eventType === undefined ? EMPTY_EVENT_TYPE_FORM : eventTypeToForm(eventType)),
  });
  const { form, setForm, set, errs, canEdit } = ed;

  const createM = useMutation(CatalogService.method.createEventType);
  const updateM = useMutation(CatalogService.method.updateEventType);
  const archiveM = useMutation(CatalogService.method.archiveEventType);

  const err = (field: string) =>
    errorFor(errs.errors, `event_type.${field}`) ?? errorFor(errs.errors, field);
  const propErr = (i: number, field: string) =>
    errorFor(errs.errors, `event_type.properties[${i}].${field}`);

  function setProperty(i: number, patch: Partial<PropertyForm>) {
    setForm((f) => ({
      ...f,
      properties: f.properties.map((p, j) => (j === i ? { ...p, ...patch } : p)),
    }));
  }

  return (
    <CatalogEntryShell
      editor={ed}
      record={eventType}
      banners={
        <>
          {eventType?.builtin === true && (
            <p className="banner">
              The built-in exposure event type cannot be changed or archived.
            </p>
          )}
          {eventType?.archived === true && (
            <p className="banner warn">
              This event type is archived: new events of it are rejected. It cannot be changed.
            </p>
          )}
        </>
      }
      onSubmit={ed.onSubmit({
        build: () => buildEventType(form),
        create: async (message) =>
          (await createM.mutateAsync({ eventType: message })).eventType?.key ?? message.key,
        path: (key) => `/catalog/event-types/${encodeURIComponent(key)}`,
        update: (message) =>
          updateM.mutateAsync({ eventType: { ...message, key: eventType?.key ?? message.key } }),
      })}
      busy={createM.isPending || updateM.isPending || archiveM.isPending}
      archive={{
        explanation:
          "New events of an archived type are rejected; stored events and the metrics over them keep working. It cannot be undone.",
        run: (key) => archiveM.mutateAsync({ key }),
      }}
      newKeyHelp="Letters, digits, _ . - ; starts with a letter, e.g. checkout_completed. Cannot change later."
      err={err}
    >
      <CheckboxField
        label="Requires exposure"
        name="requiresExposure"
        checked={form.requiresExposure}
        onChange={(checked) => set("requiresExposure", checked)}
        help="Count an event only once an exposure with the same decision id exists."
        error={err("requires_exposure")}
      />
      <fieldset className="properties">
        <legend>Properties</legend>
        <p className="help">
          Declared properties are validated on ingest; undeclared ones are stored but never checked.
          Only number properties can feed sum, mean and percentile metrics.
        </p>
        {errs.errors
          .filter((e) => e.field === "event_type.properties")
          .map((e) => (
            <p className="field-error" key={e.message}>
              {e.field}: {e.message}
            </p>
          ))}
        {form.properties.length === 0 && <p className="empty">No properties declared.</p>}
        {form.properties.map((p, i) => (
          <div className="property-row" key={i}>
            <Field label={`Property ${i + 1} name`} error={propErr(i, "name")}>
              <input
                value={p.name}
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => setProperty(i, { name: e.target.value })}
              />
            </Field>
            <Field label={`Property ${i + 1} type`} error={propErr(i, "type")}>
              <select
                value={p.type}
                onChange={(e) => setProperty(i, { type: Number(e.target.value) as PropertyType })}
              >
                {p.type === PropertyType.UNSPECIFIED && (
                  <option value={PropertyType.UNSPECIFIED}>choose a type</option>
                )}
                {PROPERTY_TYPES.map((t) => (
                  <option key={t} value={t}>
                    {enumLabel(PropertyType, t)}
                  </option>
                ))}
              </select>
            </Field>
            <CheckboxField
              label={`Property ${i + 1} required`}
              checked={p.required}
              onChange={(checked) => setProperty(i, { required: checked })}
              error={propErr(i, "required")}
            />
            {canEdit && (
              <button
                type="button"
                onClick={() =>
                  setForm((f) => ({ ...f, properties: f.properties.filter((_, j) => j !== i) }))
                }
              >
                Remove property {i + 1}
              </button>
            )}
          </div>
        ))}
        {canEdit && (
          <button
            type="button"
            onClick={() =>
              setForm((f) => ({
                ...f,
                properties: [
                  ...f.properties,
                  { name: "", type: PropertyType.STRING, required: false },
                ],
              }))
            }
          >
            Add property
          </button>
        )}
      </fieldset>
    </CatalogEntryShell>
  );
}
