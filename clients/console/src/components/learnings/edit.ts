/**
 * The learning edit form's state: the editable fields as typed, converted
 * to the UpsertLearning request. Problems the browser sees on its own come
 * back in the server's {field, message} shape, named as the server names
 * them without the "learning." prefix.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  Learning,
  LearningSchema,
} from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import type { FieldError } from "../../api/errors.js";
import { splitList } from "./filters.js";

export interface LinkDraft {
  title: string;
  url: string;
}

export interface LearningDraft {
  hypothesis: string;
  result: string;
  action: string;
  notes: string;
  /** Comma-separated. */
  tags: string;
  platforms: string;
  countries: string;
  versions: string;
  plannedDays: string;
  links: LinkDraft[];
}

export function draftFromLearning(l: Learning): LearningDraft {
  return {
    hypothesis: l.hypothesis,
    result: l.result,
    action: l.action,
    notes: l.notes,
    tags: l.tags.join(", "),
    platforms: l.platforms.join(", "),
    countries: l.countries.join(", "),
    versions: l.versions.join(", "),
    plannedDays: l.plannedDays === 0 ? "" : String(l.plannedDays),
    links: l.links.map((k) => ({ title: k.title, url: k.url })),
  };
}

/** The learning to send (editable fields only) and the problems found before sending. */
export function draftToLearning(
  draft: LearningDraft,
  experimentId: string,
): { learning: MessageInitShape<typeof LearningSchema>; problems: FieldError[] } {
  const problems: FieldError[] = [];
  const days = draft.plannedDays.trim() === "" ? 0 : Number(draft.plannedDays);
  if (!Number.isInteger(days)) {
    problems.push({ field: "planned_days", message: "must be a whole number of days" });
  }
  const links = draft.links
    .map((k) => ({ title: k.title.trim(), url: k.url.trim() }))
    .filter((k) => k.title !== "" || k.url !== "");
  return {
    learning: {
      experimentId,
      hypothesis: draft.hypothesis,
      result: draft.result,
      action: draft.action,
      notes: draft.notes,
      tags: splitList(draft.tags),
      platforms: splitList(draft.platforms),
      countries: splitList(draft.countries),
      versions: splitList(draft.versions),
      plannedDays: Number.isInteger(days) ? days : 0,
      links,
    },
    problems,
  };
}

/** Server field errors with the request's "learning." prefix dropped ("learning.links[0].url" → "links[0].url"). */
export function learningFieldErrors(errors: readonly FieldError[]): FieldError[] {
  return errors.map((e) => ({ ...e, field: e.field.replace(/^learning\./, "") }));
}
