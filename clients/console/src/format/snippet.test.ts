import { describe, expect, it } from "vitest";
import { snippetSegments } from "./snippet.js";

describe("snippetSegments", () => {
  it("marks the terms between ** pairs", () => {
    expect(snippetSegments("the **blue** button beat **grey**")).toEqual([
      { text: "the ", marked: false },
      { text: "blue", marked: true },
      { text: " button beat ", marked: false },
      { text: "grey", marked: true },
    ]);
  });
  it("handles plain text, empty text and a match at the start", () => {
    expect(snippetSegments("no match")).toEqual([{ text: "no match", marked: false }]);
    expect(snippetSegments("")).toEqual([]);
    expect(snippetSegments("**checkout** flow")).toEqual([
      { text: "checkout", marked: true },
      { text: " flow", marked: false },
    ]);
  });
  it("merges adjacent matches and drops empty pairs", () => {
    expect(snippetSegments("**a****b** c ****")).toEqual([
      { text: "ab", marked: true },
      { text: " c ", marked: false },
    ]);
  });
  it("keeps an unpaired ** as text", () => {
    expect(snippetSegments("cut **blue** and **gre")).toEqual([
      { text: "cut ", marked: false },
      { text: "blue", marked: true },
      { text: " and **gre", marked: false },
    ]);
  });
  it("never produces markup: HTML in the snippet stays text", () => {
    expect(snippetSegments("<img src=x onerror=alert(1)> **<b>**")).toEqual([
      { text: "<img src=x onerror=alert(1)> ", marked: false },
      { text: "<b>", marked: true },
    ]);
  });
});
