import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { ErrorBoundary, isStaleBuild } from "./ErrorBoundary.js";

function Broken(props: { message: string }): never {
  throw new Error(props.message);
}

describe("ErrorBoundary", () => {
  it("shows a readable message instead of a blank page", () => {
    const quiet = console.error;
    console.error = () => {};
    try {
      render(
        <ErrorBoundary resetKey="/x">
          <Broken message="report.variants is undefined" />
        </ErrorBoundary>,
      );
    } finally {
      console.error = quiet;
    }
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("This page could not be shown.");
    expect(alert.textContent).toContain("report.variants is undefined");
    expect(screen.getByRole("link", { name: "Back to the experiments" })).toBeTruthy();
  });

  it("offers a reload when the page's code belongs to a replaced build", () => {
    expect(
      isStaleBuild("Failed to fetch dynamically imported module: http://x/console/assets/A-1.js"),
    ).toBe(true);
    expect(isStaleBuild("Importing a module script failed.")).toBe(true);
    expect(isStaleBuild("report.variants is undefined")).toBe(false);
  });
});
