/**
 * Search snippets: SearchLearnings wraps each matched term in `**`. The
 * console turns them into text segments (marked or not) rendered as plain
 * text and <mark>, never as HTML, so nothing in a learning can inject markup.
 */

export interface SnippetSegment {
  text: string;
  /** A matched term (shown in <mark>). */
  marked: boolean;
}

/**
 * "the **blue** button" → [the ][blue, marked][ button]. An unpaired `**`
 * (e.g. the excerpt was cut inside a match) stays as literal text; empty
 * segments are dropped and neighbours of the same kind are merged.
 */
export function snippetSegments(snippet: string): SnippetSegment[] {
  const parts = snippet.split("**");
  const segments: SnippetSegment[] = [];
  const push = (text: string, marked: boolean) => {
    if (text === "") return;
    const last = segments[segments.length - 1];
    if (last !== undefined && last.marked === marked) last.text += text;
    else segments.push({ text, marked });
  };
  // parts alternate unmarked, marked, unmarked…; with an even number of
  // parts the last "**" has no partner, so its text is unmarked after a "**".
  const paired = parts.length % 2 === 1 ? parts.length : parts.length - 1;
  for (let i = 0; i < paired; i++) push(parts[i]!, i % 2 === 1);
  if (paired < parts.length) push(`**${parts[parts.length - 1]!}`, false);
  return segments;
}
