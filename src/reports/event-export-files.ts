/**
 * The files of raw event exports (docs/event-export.md): one writer per
 * format, each taking the events batch by batch and writing them out
 * before the next batch is read, so a writer holds at most one batch.
 *
 * - CSV: RFC 4180, header row, CRLF, properties as JSON text;
 * - JSON Lines: one object per line, properties as an object (the stored
 *   jsonb text is spliced in as it is: it is already JSON);
 * - Parquet (hyparquet-writer): every batch becomes one row group, flushed
 *   to the file as it is encoded; the footer (row group offsets and
 *   statistics, a few hundred bytes per group) is written at the end.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { once } from "node:events";
import { stat } from "node:fs/promises";
import { ParquetWriter, fileWriter } from "hyparquet-writer";
import type { AttributedEvent } from "../events/index.js";

export type EventExportFormatName = "csv" | "jsonl" | "parquet";

/** Columns of every format, in order. */
export const EVENT_EXPORT_COLUMNS = [
  "event_id",
  "event_type",
  "subject_id",
  "occurred_at",
  "received_at",
  "variant_key",
  "experiment_id",
  "properties",
] as const;

export const EVENT_EXPORT_CONTENT_TYPES: Record<EventExportFormatName, string> = {
  csv: "text/csv; charset=utf-8",
  jsonl: "application/x-ndjson",
  parquet: "application/vnd.apache.parquet",
};

export interface EventExportFileWriter {
  /** Writes one batch; resolves when the file accepted it (back-pressure). */
  write(events: readonly AttributedEvent[]): Promise<void>;
  /** Completes the file; returns its size in bytes. */
  close(): Promise<number>;
  /** Stops writing and removes the partial file. */
  abort(): Promise<void>;
}

/** A CSV field, quoted when it holds a comma, quote or line break (RFC 4180 §2). */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const iso = (ms: number) => new Date(ms).toISOString();

function csvLines(events: readonly AttributedEvent[], experimentId: string): string {
  let text = "";
  for (const e of events) {
    text +=
      csvField(e.eventId) +
      "," +
      csvField(e.eventType) +
      "," +
      csvField(e.subjectId) +
      "," +
      iso(e.occurredAt) +
      "," +
      iso(e.receivedAt) +
      "," +
      csvField(e.variantKey) +
      "," +
      experimentId +
      "," +
      csvField(e.properties) +
      "\r\n";
  }
  return text;
}

function jsonLines(events: readonly AttributedEvent[], experimentId: string): string {
  let text = "";
  const experiment = JSON.stringify(experimentId);
  for (const e of events) {
    text +=
      `{"event_id":${JSON.stringify(e.eventId)},"event_type":${JSON.stringify(e.eventType)},` +
      `"subject_id":${JSON.stringify(e.subjectId)},"occurred_at":"${iso(e.occurredAt)}",` +
      `"received_at":"${iso(e.receivedAt)}","variant_key":${JSON.stringify(e.variantKey)},` +
      `"experiment_id":${experiment},"properties":${e.properties}}\n`;
  }
  return text;
}

/** A text file written through a stream, waiting for 'drain' when its buffer is full. */
function textWriter(
  path: string,
  header: string,
  lines: (events: readonly AttributedEvent[]) => string,
): EventExportFileWriter {
  const stream: WriteStream = createWriteStream(path, { flags: "w" });
  let failure: Error | undefined;
  stream.on("error", (error) => (failure = error));
  const put = async (text: string) => {
    if (failure) throw failure;
    if (!stream.write(text)) await once(stream, "drain");
    if (failure) throw failure;
  };
  let started = false;
  return {
    async write(events) {
      if (!started) {
        started = true;
        if (header !== "") await put(header);
      }
      if (events.length > 0) await put(lines(events));
    },
    async close() {
      if (!started && header !== "") await put(header);
      stream.end();
      await once(stream, "close");
      if (failure) throw failure;
      return (await stat(path)).size;
    },
    async abort() {
      stream.destroy();
      await rm(path, { force: true });
    },
  };
}

const STRING = { type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" } as const;
const TIMESTAMP = {
  type: "INT64",
  converted_type: "TIMESTAMP_MILLIS",
  repetition_type: "REQUIRED",
} as const;

function parquetFileWriter(path: string, experimentId: string): EventExportFileWriter {
  const writer = new ParquetWriter({
    writer: fileWriter(path),
    schema: [
      { name: "root", num_children: EVENT_EXPORT_COLUMNS.length },
      ...EVENT_EXPORT_COLUMNS.map((name) => ({
        name,
        ...(name === "occurred_at" || name === "received_at" ? TIMESTAMP : STRING),
      })),
    ],
    createdBy: "lotty event export",
  });
  return {
    async write(events) {
      if (events.length === 0) return;
      const column = (name: string, data: unknown[]) => ({ name, data });
      await writer.write({
        columnData: [
          column(
            "event_id",
            events.map((e) => e.eventId),
          ),
          column(
            "event_type",
            events.map((e) => e.eventType),
          ),
          column(
            "subject_id",
            events.map((e) => e.subjectId),
          ),
          column(
            "occurred_at",
            events.map((e) => e.occurredAt),
          ),
          column(
            "received_at",
            events.map((e) => e.receivedAt),
          ),
          column(
            "variant_key",
            events.map((e) => e.variantKey),
          ),
          column(
            "experiment_id",
            events.map(() => experimentId),
          ),
          column(
            "properties",
            events.map((e) => e.properties),
          ),
        ],
        // One row group per batch.
        rowGroupSize: events.length,
      });
    },
    async close() {
      await writer.finish();
      return (await stat(path)).size;
    },
    async abort() {
      await rm(path, { force: true });
    },
  };
}

/** Opens (truncating) the file of one export. */
export function openEventExportFile(
  format: EventExportFormatName,
  path: string,
  experimentId: string,
): EventExportFileWriter {
  switch (format) {
    case "csv":
      return textWriter(path, `${EVENT_EXPORT_COLUMNS.join(",")}\r\n`, (events) =>
        csvLines(events, experimentId),
      );
    case "jsonl":
      return textWriter(path, "", (events) => jsonLines(events, experimentId));
    case "parquet":
      return parquetFileWriter(path, experimentId);
  }
}
