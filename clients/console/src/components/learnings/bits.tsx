/**
 * Small pieces the learnings pages share: outcome, effect, guardrail and
 * write-up badges (words first, colour only as a hint), tags and snippets.
 */
import type { Outcome } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import type { Effect } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { effectWords, outcomeWords } from "../../api/learnings.js";
import { snippetSegments } from "../../format/snippet.js";

export function OutcomeBadge(props: { outcome: Outcome }) {
  const { label, tone } = outcomeWords(props.outcome);
  return <span className={`badge${tone === "" ? "" : ` ${tone}`}`}>{label}</span>;
}

/** "conversion_rate +10.0 % [−1.0 %, +21.0 %] significant (p = 0.012)"; "no measured effect" when unset. */
export function EffectSummary(props: { effect: Effect | undefined; showMetric?: boolean }) {
  const { effect } = props;
  if (effect === undefined) return <span className="muted">no measured effect</span>;
  const words = effectWords(effect);
  return (
    <span className="effect">
      {props.showMetric !== false && (
        <>
          <code>{effect.metricKey}</code>{" "}
        </>
      )}
      <strong>{words.change}</strong> <span className="muted">{words.interval}</span>{" "}
      <span className={`verdict${words.significant ? " good" : ""}`}>{words.significance}</span>
      {words.comparison !== "" && <span className="muted"> · {words.comparison}</span>}
    </span>
  );
}

export function GuardrailBadge(props: { fired: readonly string[] }) {
  if (props.fired.length === 0) return null;
  return (
    <span className="badge bad" title={props.fired.join(", ")}>
      guardrail fired: {props.fired.join(", ")}
    </span>
  );
}

export function NeedsWritingUpBadge(props: { filled: boolean }) {
  if (props.filled) return null;
  return <span className="badge warn">needs writing up</span>;
}

export function TagList(props: { tags: readonly string[]; label?: string }) {
  if (props.tags.length === 0) return null;
  return (
    <ul className="tags plain-list" aria-label={props.label ?? "Tags"}>
      {props.tags.map((t) => (
        <li key={t} className="badge tag">
          {t}
        </li>
      ))}
    </ul>
  );
}

/** A search snippet with the matched terms in <mark>: text only, never HTML. */
export function Snippet(props: { text: string }) {
  if (props.text === "") return null;
  return (
    <p className="snippet">
      {snippetSegments(props.text).map((s, i) =>
        s.marked ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>,
      )}
    </p>
  );
}
