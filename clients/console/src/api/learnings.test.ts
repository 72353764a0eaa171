import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Role, UserSchema } from "../../../../gen/lotty/access/v1/access_pb.js";
import { EffectSchema } from "../../../../gen/lotty/learnings/v1/learnings_pb.js";
import {
  changeValueText,
  effectWords,
  mayEditLearning,
  missingText,
  reasonLabel,
  resultsPath,
  routerPath,
} from "./learnings.js";

describe("routerPath", () => {
  it("drops the /console basename", () => {
    expect(routerPath("/console/experiments/abc/results")).toBe("/experiments/abc/results");
    expect(routerPath("/console")).toBe("/");
    expect(routerPath("/experiments/abc")).toBe("/experiments/abc");
    expect(routerPath("/consoles/x")).toBe("/consoles/x");
  });
  it("falls back to the results page when there is no permalink", () => {
    expect(resultsPath({ reportPermalink: "", experimentId: "e1" })).toBe(
      "/experiments/e1/results",
    );
    expect(
      resultsPath({
        reportPermalink: "/console/experiments/e1/results?window=all",
        experimentId: "e1",
      }),
    ).toBe("/experiments/e1/results?window=all");
  });
});

describe("mayEditLearning", () => {
  const user = (id: string, roles: Role[]) => create(UserSchema, { id, roles });
  it("lets the owner and admins edit, nobody else", () => {
    expect(mayEditLearning(user("u1", [Role.EXPERIMENTER]), { ownerId: "u1" })).toBe(true);
    expect(mayEditLearning(user("u2", [Role.EXPERIMENTER]), { ownerId: "u1" })).toBe(false);
    expect(mayEditLearning(user("a", [Role.ADMIN]), { ownerId: "u1" })).toBe(true);
    expect(mayEditLearning(user("u1", [Role.VIEWER]), { ownerId: "u1" })).toBe(false);
  });
});

describe("words", () => {
  it("names reasons and missing fields", () => {
    expect(reasonLabel("same_flag")).toBe("Same flag");
    expect(reasonLabel("brand_new_reason")).toBe("Brand new reason");
    expect(missingText(["notes", "action"])).toBe("Needs writing up: missing notes, action.");
    expect(missingText(["planned_days"])).toBe("Needs writing up: missing planned days.");
  });

  it("puts an effect relative to the control", () => {
    const words = effectWords(
      create(EffectSchema, {
        metricKey: "conversion_rate",
        variantKey: "blue",
        controlVariantKey: "control",
        controlValue: 0.2,
        variantValue: 0.22,
        absoluteDifference: 0.02,
        ciLow: -0.002,
        ciHigh: 0.042,
        relativeDifference: 0.1,
        pValue: 0.012,
        significant: true,
      }),
    );
    expect(words).toEqual({
      change: "+10.0 %",
      interval: "[−1.0 %, +21.0 %]",
      significance: "significant (p = 0.012)",
      significant: true,
      comparison: "blue vs control",
    });
  });

  it("stays absolute when the control is 0", () => {
    const words = effectWords(
      create(EffectSchema, { absoluteDifference: 1.5, ciLow: 0.5, ciHigh: 2.5, pValue: 0.5 }),
    );
    expect(words.change).toBe("+1.5");
    expect(words.interval).toBe("[+0.5, +2.5]");
    expect(words.significance).toBe("not significant (p = 0.50)");
  });

  it("shows audited JSON values readably", () => {
    expect(changeValueText('"shipped B"')).toBe("shipped B");
    expect(changeValueText('["de","fr"]')).toBe("de, fr");
    expect(changeValueText("[]")).toBe("(empty)");
    expect(changeValueText('""')).toBe("(empty)");
    expect(changeValueText("")).toBe("(empty)");
    expect(changeValueText("14")).toBe("14");
    expect(changeValueText('[{"title":"Doc","url":"https://x.test/d"}]')).toBe(
      "Doc (https://x.test/d)",
    );
    expect(changeValueText("not json")).toBe("not json");
  });
});
