/**
 * P3: in-process evaluation of one targeted experiment flag — country IN
 * ["RU","KZ"] AND app_version > "1.5.0", then a 50/50 split — by Lotty's
 * compiled rule and bucketing, by @growthbook/growthbook (GrowthBookClient)
 * and by @openfeature/flagd-core, on the same subjects in the same run.
 * Also a floor: a bare murmur3 hash plus two comparisons.
 *
 * P10: the same flag through @lotty/client's createLocalDecider().decide
 * (the configuration from a bootstrap file, no server; a signing key held
 * but ids not read, exposures off), one flag per call and three targeted
 * flags per call, per flag; and with the decision id read (signed).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GrowthBookClient } from "@growthbook/growthbook";
import { FlagdCore } from "@openfeature/flagd-core";
import { parseRule } from "../src/targeting/index.js";
import { assignVariant, bucketOf, murmur3_32, variantRanges } from "../src/decision/bucketing.js";
import type { SnapshotSource, SourceExperiment } from "../src/decision/core/index.js";
import { createLocalDecider, type LocalDecider } from "../clients/node/src/index.js";

const SUBJECTS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const ATTRIBUTES = SUBJECTS.map((_, i) => ({
  country: i % 3 === 0 ? "DE" : i % 3 === 1 ? "RU" : "KZ",
  app_version: i % 5 === 0 ? "1.4.2" : "1.6.0",
}));
const ROUNDS = 7;
const PER_ROUND = 200_000;

/** Median nanoseconds per call over ROUNDS rounds of PER_ROUND calls. */
function measure(fn: (i: number) => unknown): number {
  let sink = 0;
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < PER_ROUND; i++) if (fn(i % SUBJECTS.length)) sink++;
    const ns = Number(process.hrtime.bigint() - started) / PER_ROUND;
    if (round > 0) samples.push(ns); // the first round warms up
  }
  if (sink < 0) console.error(sink);
  samples.sort((a, b) => a - b);
  return Math.round((samples[Math.floor(samples.length / 2)] as number) * 10) / 10;
}

export async function evaluation(): Promise<Record<string, number>> {
  const parsed = parseRule('country IN ["RU","KZ"] AND app_version > "1.5.0"');
  if (!parsed.ok) throw new Error(parsed.error.message);
  const rule = parsed.rule;
  const ranges = variantRanges(
    [
      { key: "grey", weight: 50 },
      { key: "blue", weight: 50 },
    ],
    100,
  );
  const lotty = (i: number) => {
    if (!rule.evaluate(ATTRIBUTES[i] as Record<string, unknown>)) return "grey";
    return assignVariant(bucketOf("exp-1", SUBJECTS[i] as string), ranges) ?? "grey";
  };

  const growthbook = new GrowthBookClient().initSync({
    payload: {
      features: {
        button: {
          defaultValue: "grey",
          rules: [
            {
              key: "exp-1",
              condition: { country: { $in: ["RU", "KZ"] }, app_version: { $vgt: "1.5.0" } },
              variations: ["grey", "blue"],
              weights: [0.5, 0.5],
              hashAttribute: "id",
            },
          ],
        },
      },
    },
  });
  const growthbookContexts = SUBJECTS.map((id, i) => ({ attributes: { id, ...ATTRIBUTES[i] } }));
  const gb = (i: number) => growthbook.evalFeature("button", growthbookContexts[i]!).value;

  const flagd = new FlagdCore();
  flagd.setConfigurations(
    JSON.stringify({
      flags: {
        button: {
          state: "ENABLED",
          defaultVariant: "grey",
          variants: { grey: "grey", blue: "blue" },
          targeting: {
            if: [
              {
                and: [
                  { in: [{ var: "country" }, ["RU", "KZ"]] },
                  { sem_ver: [{ var: "app_version" }, ">", "1.5.0"] },
                ],
              },
              {
                fractional: [
                  ["grey", 50],
                  ["blue", 50],
                ],
              },
              "grey",
            ],
          },
        },
      },
    }),
  );
  const flagdContexts = SUBJECTS.map((targetingKey, i) => ({ targetingKey, ...ATTRIBUTES[i] }));
  const fd = (i: number) => flagd.resolveStringEvaluation("button", "grey", flagdContexts[i]).value;

  const floor = (i: number) => {
    const a = ATTRIBUTES[i] as { country: string; app_version: string };
    return (
      a.country !== "DE" && a.app_version > "1.5.0" && murmur3_32(SUBJECTS[i] as string) % 2 === 0
    );
  };

  // Same answers where the libraries agree on the rule (they split differently).
  for (let i = 0; i < 100; i++) {
    const matches = ATTRIBUTES[i]!.country !== "DE" && ATTRIBUTES[i]!.app_version === "1.6.0";
    if (!matches && (lotty(i) !== "grey" || gb(i) !== "grey" || fd(i) !== "grey")) {
      throw new Error(`evaluators disagree on a non-matching subject ${i}`);
    }
  }

  const local = await localDecider();
  const one = ["button"];
  const three = ["button", "banner", "promo"];
  const localOne = (i: number) =>
    local.decider.decide({ subjectId: SUBJECTS[i]!, attributes: ATTRIBUTES[i]!, flagKeys: one })[0]!
      .value;
  const localThree = (i: number) =>
    local.decider.decide({ subjectId: SUBJECTS[i]!, attributes: ATTRIBUTES[i]!, flagKeys: three })
      .length;
  const localSigned = (i: number) =>
    local.decider.decide({ subjectId: SUBJECTS[i]!, attributes: ATTRIBUTES[i]!, flagKeys: one })[0]!
      .decisionId;
  for (let i = 0; i < 100; i++) {
    if (localOne(i) !== lotty(i)) throw new Error(`the local decider disagrees on subject ${i}`);
  }

  const lottyNs = measure(lotty);
  const growthbookNs = measure(gb);
  const flagdNs = measure(fd);
  const floorNs = measure(floor);
  const localOneNs = measure(localOne);
  const localThreeNs = Math.round((measure(localThree) / 3) * 10) / 10;
  const localSignedNs = measure(localSigned);
  await local.close();
  return {
    local_decider_ns_per_flag_one_per_call: localOneNs,
    local_decider_ns_per_flag_three_per_call: localThreeNs,
    local_decider_ns_per_flag_id_read: localSignedNs,
    growthbook_vs_local_decider_ratio: Math.round((growthbookNs / localOneNs) * 10) / 10,
    flagd_core_vs_local_decider_ratio: Math.round((flagdNs / localOneNs) * 10) / 10,
    lotty_ns: lottyNs,
    growthbook_ns: growthbookNs,
    flagd_core_ns: flagdNs,
    floor_hash_and_two_comparisons_ns: floorNs,
    growthbook_vs_lotty_ratio: Math.round((growthbookNs / lottyNs) * 10) / 10,
    flagd_core_vs_lotty_ratio: Math.round((flagdNs / lottyNs) * 10) / 10,
  };
}

/**
 * A local decider holding three flags, each with a running 50/50 experiment
 * under the P3 rule, loaded from a bootstrap file (no server: the decide
 * path is the same whichever way the configuration arrived).
 */
async function localDecider(): Promise<{ decider: LocalDecider; close(): Promise<void> }> {
  const rule = 'country IN ["RU","KZ"] AND app_version > "1.5.0"';
  const experiment = (flagKey: string): SourceExperiment => ({
    id: `exp-${flagKey}`,
    flagKey,
    status: "running",
    version: 1,
    rolledBack: false,
    audiencePercent: 100,
    variants: [
      { key: "grey", value: "grey", weight: 50, control: true },
      { key: "blue", value: "blue", weight: 50, control: false },
    ],
    targetingRule: rule,
    conflictDomains: [],
    priority: 0,
    startedAt: 0,
  });
  const keys = ["button", "banner", "promo"];
  const source: SnapshotSource = {
    format: 1,
    version: "bench",
    flags: keys.map((key) => ({ key, type: "string", defaultValue: "grey", archived: false })),
    // The P3 experiment is salted "exp-1".
    experiments: keys.map((k) =>
      k === "button" ? { ...experiment(k), id: "exp-1" } : experiment(k),
    ),
    recentlyCompleted: [],
    policy: { maxConcurrentExperiments: 0, cooldownSeconds: 0 },
    knownExperimentIds: [],
    eventTypes: [],
  };
  const dir = mkdtempSync(path.join(tmpdir(), "lotty-bench-"));
  const file = path.join(dir, "configuration.json");
  writeFileSync(
    file,
    JSON.stringify({
      lottyLocalConfiguration: 1,
      savedAt: Date.now(),
      version: source.version,
      format: source.format,
      source,
    }),
  );
  const decider = createLocalDecider({
    baseUrl: "http://127.0.0.1:1",
    bootstrapFile: file,
    events: false,
    signingKey: { keyId: randomUUID(), secret: new Uint8Array(randomBytes(32)) },
    reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    logger: { warn: () => {}, error: () => {} },
  });
  await decider.ready();
  return {
    decider,
    close: async () => {
      await decider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
