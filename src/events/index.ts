/**
 * The events module's face for other modules: the data-rights commands
 * over the tables the event store owns (events, exposures,
 * pending_attributions, ingest_stats). docs/data-rights.md. And where
 * the raw events still held begin (the retention's mark), and the volume
 * figures the data-quality alarms read.
 */
export {
  deleteSubjectRows,
  subjectRows,
  type SubjectRows,
  type SubjectRowsDeleted,
} from "./erasure.js";
export { rawEventsFrom } from "./retention.js";
export {
  eventCountsOfHour,
  ingestTotalsFrom,
  pendingAttributionTotal,
  type IngestTotals,
} from "./volume.js";
export { attributedEvents, ATTRIBUTED_BATCH_SIZE, type AttributedEvent } from "./attributed.js";
