/** Sign-in with an API key. The key goes to sessionStorage only after GetCurrentUser accepts it. */
import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { describeError } from "../api/errors.js";
import { useSession } from "../api/session.js";

/**
 * Where to go after signing in: a path inside the console from `next`, never
 * another origin ("//host", "/\\host" and scheme URLs fall back to the list).
 */
export function safeNext(next: string | null): string {
  if (next === null || !/^\/(?![/\\])/.test(next) || next.includes("\\")) return "/experiments";
  return next;
}

export function SignInPage() {
  const { signIn } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | undefined>(
    params.get("expired") === "1"
      ? "Your stored key is no longer accepted. Sign in again."
      : undefined,
  );
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (key.trim() === "") {
      setError("apiKey: is required");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await signIn(key);
      void navigate(safeNext(params.get("next")), { replace: true });
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="sign-in">
      <h1>Sign in to Lotty</h1>
      <form onSubmit={submit} noValidate>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="apiKey"
          type="password"
          autoComplete="off"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-invalid={error !== undefined}
          aria-describedby={error !== undefined ? "sign-in-error" : "sign-in-help"}
        />
        <p id="sign-in-help" className="help">
          The key is kept in this tab only and forgotten when you sign out or close the tab.
        </p>
        {error !== undefined && (
          <p id="sign-in-error" className="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
