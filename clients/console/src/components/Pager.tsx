/**
 * Token paging for list RPCs: remembers the tokens of the pages seen so
 * "Previous page" works, and resets to the first page when filters change.
 */
import { useState } from "react";

export interface PagerState {
  token: string;
  page: number;
  next(token: string): void;
  previous(): void;
  reset(): void;
}

export function usePager(): PagerState {
  const [tokens, setTokens] = useState<string[]>([""]);
  return {
    token: tokens[tokens.length - 1] ?? "",
    page: tokens.length,
    next: (token) => setTokens((t) => [...t, token]),
    previous: () => setTokens((t) => (t.length > 1 ? t.slice(0, -1) : t)),
    reset: () => setTokens([""]),
  };
}

/** Previous and Next page buttons, with the page number when `page` is given. */
export function PageNav(props: {
  /** The navigation's accessible name. */
  label: string;
  className: string;
  page?: number;
  hasPrevious: boolean;
  onPrevious(): void;
  hasNext: boolean;
  onNext(): void;
}) {
  return (
    <nav className={props.className} aria-label={props.label}>
      <button type="button" onClick={props.onPrevious} disabled={!props.hasPrevious}>
        Previous page
      </button>
      {props.page !== undefined && <span aria-live="polite">Page {props.page}</span>}
      <button type="button" onClick={props.onNext} disabled={!props.hasNext}>
        Next page
      </button>
    </nav>
  );
}

/** Paging for a `usePager` list; nothing when everything fits on one page. */
export function Pager(props: { pager: PagerState; nextToken: string | undefined; label: string }) {
  const { pager, nextToken } = props;
  if (pager.page === 1 && (nextToken === undefined || nextToken === "")) return null;
  return (
    <PageNav
      className="actions pager"
      label={`${props.label} pages`}
      page={pager.page}
      hasPrevious={pager.page !== 1}
      onPrevious={pager.previous}
      hasNext={nextToken !== undefined && nextToken !== ""}
      onNext={() => nextToken !== undefined && pager.next(nextToken)}
    />
  );
}
