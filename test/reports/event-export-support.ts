/** Helpers for raw event export tests: the client, waiting for a job, reading files back. */
import { readFile } from "node:fs/promises";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import {
  EventExportService,
  EventExportStatus,
  type EventExport,
} from "../../gen/lotty/reports/v1/event_export_pb.js";
import { client } from "../support/clients.js";
import { waitFor } from "../support/app.js";

export function exportClient(t: { baseUrl: string }, key: string) {
  return client(EventExportService, t.baseUrl, key);
}

/** Polls GetEventExport until the job is DONE or FAILED; returns it. */
export async function untilExportFinished(
  t: { baseUrl: string },
  key: string,
  id: string,
  timeoutMs = 60_000,
): Promise<EventExport> {
  const exports = exportClient(t, key);
  let last: EventExport | undefined;
  await waitFor(
    async () => {
      last = (await exports.getEventExport({ id })).eventExport;
      return last?.status === EventExportStatus.DONE || last?.status === EventExportStatus.FAILED;
    },
    timeoutMs,
    `event export ${id} finished`,
  );
  return last!;
}

/** Reads a DONE export through ReadEventExport, `maxBytes` at a time; returns the bytes and the pages read. */
export async function readByPages(
  t: { baseUrl: string },
  key: string,
  id: string,
  maxBytes: number,
): Promise<{ data: Buffer; pages: number }> {
  const exports = exportClient(t, key);
  const parts: Uint8Array[] = [];
  let offset = 0n;
  for (;;) {
    const page = await exports.readEventExport({ id, offset, maxBytes });
    parts.push(page.data);
    if (page.nextOffset !== offset + BigInt(page.data.length)) {
      throw new Error(`next_offset ${page.nextOffset} does not follow offset ${offset}`);
    }
    offset = page.nextOffset;
    if (page.eof) break;
  }
  return { data: Buffer.concat(parts), pages: parts.length };
}

/** A minimal RFC 4180 parser: records of fields, CRLF record separators. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length;) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (ch === '"') {
        quoted = false;
        i += 1;
      } else {
        field += ch;
        i += 1;
      }
    } else if (ch === '"') {
      if (field !== "") throw new Error(`quote inside an unquoted field at ${i}`);
      quoted = true;
      i += 1;
    } else if (ch === ",") {
      record.push(field);
      field = "";
      i += 1;
    } else if (ch === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i += 2;
    } else if (ch === "\r" || ch === "\n") {
      throw new Error(`bare line break outside quotes at ${i}`);
    } else {
      field += ch;
      i += 1;
    }
  }
  if (quoted) throw new Error("unterminated quoted field");
  if (field !== "" || record.length > 0) throw new Error("last record without CRLF");
  return records;
}

/** One exported row with every column as text (timestamps as RFC 3339, properties as parsed JSON). */
export interface ExportedRow {
  event_id: string;
  event_type: string;
  subject_id: string;
  occurred_at: string;
  received_at: string;
  variant_key: string;
  experiment_id: string;
  properties: unknown;
}

export const COLUMNS = [
  "event_id",
  "event_type",
  "subject_id",
  "occurred_at",
  "received_at",
  "variant_key",
  "experiment_id",
  "properties",
] as const;

/** The rows of an export file of any format, as ExportedRow. */
export async function rowsOf(
  format: "csv" | "jsonl" | "parquet",
  file: string,
): Promise<ExportedRow[]> {
  if (format === "csv") {
    const [header, ...records] = parseCsv(await readFile(file, "utf8"));
    if (header?.join(",") !== COLUMNS.join(",")) throw new Error(`header ${String(header)}`);
    return records.map((r) => {
      const row = Object.fromEntries(COLUMNS.map((c, i) => [c, r[i]])) as Record<string, string>;
      if (r.length !== COLUMNS.length) throw new Error(`a row of ${r.length} fields`);
      return { ...row, properties: JSON.parse(row.properties!) as unknown } as ExportedRow;
    });
  }
  if (format === "jsonl") {
    const text = await readFile(file, "utf8");
    if (text !== "" && !text.endsWith("\n")) throw new Error("last line without LF");
    return text
      .split("\n")
      .slice(0, -1)
      .map((line) => {
        const row = JSON.parse(line) as Record<string, unknown>;
        if (Object.keys(row).join(",") !== COLUMNS.join(",")) {
          throw new Error(`keys ${Object.keys(row).join(",")}`);
        }
        return row as unknown as ExportedRow;
      });
  }
  const rows = await parquetReadObjects({ file: await asyncBufferFromFile(file) });
  return rows.map((r) => {
    const iso = (v: unknown) => {
      if (!(v instanceof Date)) throw new Error(`a timestamp read as ${typeof v}`);
      return v.toISOString();
    };
    return {
      event_id: r.event_id as string,
      event_type: r.event_type as string,
      subject_id: r.subject_id as string,
      occurred_at: iso(r.occurred_at),
      received_at: iso(r.received_at),
      variant_key: r.variant_key as string,
      experiment_id: r.experiment_id as string,
      properties: JSON.parse(r.properties as string) as unknown,
    };
  });
}
