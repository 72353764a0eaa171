import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { LearningSchema } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { draftFromLearning, draftToLearning, learningFieldErrors } from "./edit.js";

describe("learning draft", () => {
  it("round-trips the editable fields", () => {
    const learning = create(LearningSchema, {
      experimentId: "e1",
      hypothesis: "h",
      result: "r",
      action: "a",
      notes: "n",
      tags: ["checkout", "pricing"],
      platforms: ["ios"],
      countries: ["de", "fr"],
      versions: [],
      plannedDays: 14,
      links: [{ title: "Doc", url: "https://x.test/doc" }],
    });
    const draft = draftFromLearning(learning);
    expect(draft.tags).toBe("checkout, pricing");
    expect(draft.plannedDays).toBe("14");
    const { learning: back, problems } = draftToLearning(draft, "e1");
    expect(problems).toEqual([]);
    expect(back).toEqual({
      experimentId: "e1",
      hypothesis: "h",
      result: "r",
      action: "a",
      notes: "n",
      tags: ["checkout", "pricing"],
      platforms: ["ios"],
      countries: ["de", "fr"],
      versions: [],
      plannedDays: 14,
      links: [{ title: "Doc", url: "https://x.test/doc" }],
    });
  });

  it("drops blank link rows, reads empty days as 0 and refuses fractions", () => {
    const draft = draftFromLearning(create(LearningSchema, {}));
    expect(draft.plannedDays).toBe("");
    draft.links = [
      { title: " ", url: "" },
      { title: "", url: "https://x.test" },
    ];
    expect(draftToLearning(draft, "e").learning.links).toEqual([
      { title: "", url: "https://x.test" },
    ]);
    expect(draftToLearning(draft, "e").learning.plannedDays).toBe(0);
    draft.plannedDays = "2.5";
    expect(draftToLearning(draft, "e").problems).toEqual([
      { field: "planned_days", message: "must be a whole number of days" },
    ]);
  });

  it("names server errors without the learning. prefix", () => {
    expect(
      learningFieldErrors([
        { field: "learning.links[0].url", message: "must be http(s)" },
        { field: "notes", message: "too long" },
      ]),
    ).toEqual([
      { field: "links[0].url", message: "must be http(s)" },
      { field: "notes", message: "too long" },
    ]);
  });
});
