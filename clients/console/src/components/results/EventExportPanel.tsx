/**
 * "Export events": starts a raw event export of the results page's window
 * (EventExportService, docs/event-export.md), follows the job until it is
 * done, then offers a one-time download link. Shown to the roles that may
 * start exports (experimenters and admins): raw events carry subject ids.
 */
import { useId, useState } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EventExportFormat,
  EventExportService,
  EventExportStatus,
  type EventExport,
} from "../../../../../gen/lotty/reports/v1/event_export_pb.js";
import { describeError } from "../../api/errors.js";
import { formatBytes } from "../../format/numbers.js";

const FORMATS: { value: EventExportFormat; label: string }[] = [
  { value: EventExportFormat.CSV, label: "CSV" },
  { value: EventExportFormat.JSONL, label: "JSON Lines" },
  { value: EventExportFormat.PARQUET, label: "Parquet" },
];

/** How often a job's status is read while it is being written. */
const POLL_MS = 1_000;

function finished(job: EventExport | undefined): boolean {
  return job?.status === EventExportStatus.DONE || job?.status === EventExportStatus.FAILED;
}

/** The job's state in words (the status is never shown by colour alone). */
export function exportStatusText(job: EventExport): string {
  const rows = Number(job.rows).toLocaleString("en-US");
  switch (job.status) {
    case EventExportStatus.QUEUED:
      return "Export queued…";
    case EventExportStatus.RUNNING:
      return `Writing the file… ${rows} events so far.`;
    case EventExportStatus.DONE:
      return `Export done: ${rows} events, ${formatBytes(Number(job.bytes))}.`;
    case EventExportStatus.FAILED:
      return `Export failed: ${job.error}`;
    case EventExportStatus.EXPIRED:
      return "The export's file has expired; start a new one.";
    default:
      return "";
  }
}

export function EventExportPanel(props: {
  experimentId: string;
  from?: Date;
  to?: Date;
  /** False when the page's window is not valid. */
  windowValid: boolean;
}) {
  const formatId = useId();
  const headingId = useId();
  const [format, setFormat] = useState<EventExportFormat>(EventExportFormat.CSV);
  const [jobId, setJobId] = useState<string | undefined>();
  const [link, setLink] = useState<string | undefined>();
  const start = useMutation(EventExportService.method.startEventExport);
  const createLink = useMutation(EventExportService.method.createEventExportLink);
  const job = useQuery(
    EventExportService.method.getEventExport,
    { id: jobId ?? "" },
    {
      enabled: jobId !== undefined,
      refetchInterval: (query) => (finished(query.state.data?.eventExport) ? false : POLL_MS),
    },
  );
  const current = job.data?.eventExport;
  const running = jobId !== undefined && !finished(current) && job.error === null;

  const onStart = () => {
    setLink(undefined);
    start.mutate(
      {
        experimentId: props.experimentId,
        from: props.from === undefined ? undefined : timestampFromDate(props.from),
        to: props.to === undefined ? undefined : timestampFromDate(props.to),
        format,
      },
      { onSuccess: (response) => setJobId(response.eventExport?.id) },
    );
  };

  const status =
    start.error !== null
      ? `Export could not start: ${describeError(start.error)}`
      : job.error !== null
        ? `Export status unavailable: ${describeError(job.error)}`
        : current !== undefined
          ? exportStatusText(current)
          : start.isPending
            ? "Starting the export…"
            : "";

  return (
    <section className="event-export" aria-labelledby={headingId}>
      <h2 id={headingId}>Export events</h2>
      <p className="help">
        Every attributed event of this window (event, subject, variant, times, properties) as a
        file. It is written in the background; the download link works once, for 15 minutes.
      </p>
      <div className="actions">
        <label htmlFor={formatId}>Format</label>
        <select
          id={formatId}
          value={format}
          onChange={(e) => setFormat(Number(e.target.value) as EventExportFormat)}
        >
          {FORMATS.map((f) => (
            <option key={f.value} value={f.value}>
              {f.label}
            </option>
          ))}
        </select>
        <button
          type="button"
          disabled={!props.windowValid || start.isPending || running}
          onClick={onStart}
        >
          Export events
        </button>
        {current?.status === EventExportStatus.DONE && link === undefined && (
          <button
            type="button"
            disabled={createLink.isPending}
            onClick={() =>
              createLink.mutate(
                { id: current.id },
                { onSuccess: (response) => setLink(response.path) },
              )
            }
          >
            Get download link
          </button>
        )}
        {current !== undefined && link !== undefined && (
          <a href={link} download={current.filename}>
            Download {current.filename}
          </a>
        )}
      </div>
      <p
        className={
          start.error !== null || current?.status === EventExportStatus.FAILED
            ? "field-error"
            : "help"
        }
        role="status"
        aria-live="polite"
      >
        {status}
        {createLink.error !== null &&
          ` The link could not be made: ${describeError(createLink.error)}`}
      </p>
    </section>
  );
}
