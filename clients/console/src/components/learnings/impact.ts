/** The cumulative impact chart's points: each shipped experiment's effect added to those before it. */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ImpactContribution } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";

export interface ImpactPoint {
  experimentId: string;
  name: string;
  completedAt: Date | undefined;
  /** This experiment's relative difference (fraction). */
  relative: number;
  /** The sum of relative differences up to and including this one. */
  cumulativeRelative: number;
  absolute: number;
  cumulativeAbsolute: number;
}

/** Points in the server's order (oldest first); a missing effect counts as 0. */
export function cumulativeImpact(contributions: readonly ImpactContribution[]): ImpactPoint[] {
  let relative = 0;
  let absolute = 0;
  return contributions.map((c) => {
    const r = c.effect?.relativeDifference ?? 0;
    const a = c.effect?.absoluteDifference ?? 0;
    relative += Number.isFinite(r) ? r : 0;
    absolute += Number.isFinite(a) ? a : 0;
    return {
      experimentId: c.experimentId,
      name: c.experimentName,
      completedAt: c.completedAt === undefined ? undefined : timestampDate(c.completedAt),
      relative: r,
      cumulativeRelative: relative,
      absolute: a,
      cumulativeAbsolute: absolute,
    };
  });
}
