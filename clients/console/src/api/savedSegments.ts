/**
 * Pure helpers of the saved segment pages (docs/saved-segments.md): form
 * state ⇄ request messages, and the users of a segment in words. Nothing
 * here touches the network, so all of it is unit-tested.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  CreateSavedSegmentRequestSchema,
  SavedSegment,
  SavedSegmentUser,
  UpdateSavedSegmentRequestSchema,
} from "../../../../gen/lotty/catalog/v1/catalog_pb.js";

export interface SavedSegmentForm {
  key: string;
  displayName: string;
  description: string;
  rule: string;
}

export const EMPTY_SAVED_SEGMENT_FORM: SavedSegmentForm = {
  key: "",
  displayName: "",
  description: "",
  rule: "",
};

export function savedSegmentToForm(s: SavedSegment): SavedSegmentForm {
  return { key: s.key, displayName: s.displayName, description: s.description, rule: s.rule };
}

/** The create request; the server checks every field and names the ones it refuses. */
export function buildCreateSavedSegmentRequest(
  form: SavedSegmentForm,
): MessageInitShape<typeof CreateSavedSegmentRequestSchema> {
  return {
    savedSegment: {
      key: form.key.trim(),
      displayName: form.displayName,
      description: form.description,
      rule: form.rule,
    },
  };
}

/** The update request, against the version the form was loaded from. */
export function buildUpdateSavedSegmentRequest(
  form: SavedSegmentForm,
  stored: SavedSegment,
): MessageInitShape<typeof UpdateSavedSegmentRequestSchema> {
  return {
    savedSegment: {
      key: stored.key,
      displayName: form.displayName,
      description: form.description,
      rule: form.rule,
    },
    expectedVersion: stored.version,
  };
}

/** "Blue button (running, version 3 uses segment version 1)". */
export function describeUser(u: SavedSegmentUser): string {
  return `${u.experimentName} (${u.status}, version ${u.experimentVersion} uses segment version ${u.segmentVersion})`;
}
