/**
 * The events module's face for other modules: the data-rights commands
 * over the tables the event store owns (events, exposures,
 * pending_attributions, ingest_stats). docs/data-rights.md.
 */
export {
  deleteSubjectRows,
  subjectRows,
  type SubjectRows,
  type SubjectRowsDeleted,
} from "./erasure.js";
