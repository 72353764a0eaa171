import { describe, expect, it } from "vitest";
import { safeNext } from "./SignInPage.js";

describe("safeNext", () => {
  it("keeps paths inside the console, query included", () => {
    expect(safeNext("/experiments/abc/results?window=7d")).toBe(
      "/experiments/abc/results?window=7d",
    );
    expect(safeNext("/flags")).toBe("/flags");
  });

  it("falls back to the list for anything that could leave the origin", () => {
    for (const next of [
      null,
      "",
      "//evil.example/x",
      "/\\evil.example/x",
      "https://evil.example",
      "experiments",
      "/a\\b",
    ]) {
      expect(safeNext(next)).toBe("/experiments");
    }
  });
});
