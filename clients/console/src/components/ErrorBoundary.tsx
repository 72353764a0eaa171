/**
 * The last line against a blank page: a rendering error in one page shows a
 * readable message with a way back, and the rest of the console keeps working.
 */
import { Component, type ReactNode } from "react";

/** Browsers' messages for a lazy page whose file is not on the server any more. */
export function isStaleBuild(message: string): boolean {
  return /dynamically imported module|Importing a module script failed|error loading dynamically/i.test(
    message,
  );
}

interface State {
  error: unknown;
}

export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, State> {
  override state: State = { error: undefined };

  static getDerivedStateFromError(error: unknown): State {
    return { error };
  }

  override componentDidUpdate(previous: { resetKey: string }): void {
    // Navigating elsewhere clears the error.
    if (previous.resetKey !== this.props.resetKey && this.state.error !== undefined) {
      this.setState({ error: undefined });
    }
  }

  override render(): ReactNode {
    if (this.state.error === undefined) return this.props.children;
    const message =
      this.state.error instanceof Error ? this.state.error.message : String(this.state.error);
    if (isStaleBuild(message)) {
      // The page's code was replaced (Lotty upgraded while the tab was open):
      // its hashed files are gone, and a reload fetches the new ones.
      return (
        <div className="error" role="alert">
          <strong>A newer version of the console is available.</strong> This page's code could not
          be loaded.{" "}
          <button type="button" onClick={() => location.reload()}>
            Reload the page
          </button>
        </div>
      );
    }
    return (
      <div className="error" role="alert">
        <strong>This page could not be shown.</strong> {message}{" "}
        <a href="/console/experiments">Back to the experiments</a>
      </div>
    );
  }
}
