import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import {
  SavedSegmentSchema,
  SavedSegmentUserSchema,
} from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import {
  buildCreateSavedSegmentRequest,
  buildUpdateSavedSegmentRequest,
  describeUser,
  savedSegmentToForm,
} from "./savedSegments.js";

describe("saved segment forms", () => {
  const stored = create(SavedSegmentSchema, {
    key: "power_users",
    displayName: "Power users",
    description: "Heavy users",
    rule: "sessions >= 20",
    version: 4,
  });

  it("round-trips a stored segment and updates against its version", () => {
    const form = savedSegmentToForm(stored);
    expect(form).toEqual({
      key: "power_users",
      displayName: "Power users",
      description: "Heavy users",
      rule: "sessions >= 20",
    });
    const request = buildUpdateSavedSegmentRequest({ ...form, rule: "sessions >= 50" }, stored);
    expect(request.expectedVersion).toBe(4);
    expect(request.savedSegment).toMatchObject({ key: "power_users", rule: "sessions >= 50" });
  });

  it("sends the rule as typed (the server reports positions in it) and a trimmed key", () => {
    const request = buildCreateSavedSegmentRequest({
      key: " vip ",
      displayName: "VIP",
      description: "",
      rule: '  tier == "gold"',
    });
    expect(request.savedSegment).toMatchObject({ key: "vip", rule: '  tier == "gold"' });
  });

  it("describes a user in words", () => {
    const user = create(SavedSegmentUserSchema, {
      experimentName: "Blue button",
      status: "running",
      experimentVersion: 3,
      segmentVersion: 1,
    });
    expect(describeUser(user)).toBe("Blue button (running, version 3 uses segment version 1)");
  });
});
