/**
 * The "similar experiments" panel of the create form: the draft's current
 * fields, once they have been still for half a second and a flag is chosen.
 */
import { useMemo } from "react";
import type { FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";
import { draftToExperiment, emptyRamp, type ExperimentDraft } from "../experiments/draft.js";
import { SimilarExperiments, useDebounced } from "./SimilarExperiments.js";

const DEBOUNCE_MS = 500;

export function DraftSimilar(props: {
  draft: ExperimentDraft;
  flagType: FlagType;
  flagTags: readonly string[];
}) {
  const { draft } = props;
  // Only what FindSimilar compares, as text: a stable value to debounce.
  const compared =
    draft.flagKey === ""
      ? ""
      : JSON.stringify({
          draft: {
            ...draft,
            name: "",
            description: "",
            conflictDomains: "",
            priority: "0",
            // The ramp plan is not compared: editing it fetches nothing.
            ramp: emptyRamp(),
          } satisfies ExperimentDraft,
          flagType: props.flagType,
          tags: props.flagTags,
        });
  const settled = useDebounced(compared, DEBOUNCE_MS);
  const to = useMemo(() => {
    if (settled === "") return undefined;
    const parsed = JSON.parse(settled) as {
      draft: ExperimentDraft;
      flagType: FlagType;
      tags: string[];
    };
    return {
      draft: draftToExperiment(parsed.draft, parsed.flagType).experiment,
      draftTags: parsed.tags,
    };
  }, [settled]);
  return (
    <SimilarExperiments
      to={to}
      idleText="Choose a flag to see completed experiments similar to this one."
    />
  );
}
