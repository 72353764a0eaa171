/**
 * P7 across processes (issue #20): how long a configuration change takes
 * to reach Decide on another Lotty process, and on the process that made
 * it. The benchmark starts two built Lotty processes (dist/src/main.js) on
 * one fresh database and one NATS prefix, changes a flag's default value
 * 50 times through process A and polls Decide on A and B every ~5 ms until
 * each answers the new value. Times run from the moment UpdateFlag returned
 * on A (the change is committed); the RPC's own duration is reported too.
 * Budget: p95 ≤ 500 ms on B; A answers at once (its own change). A local
 * decider (`createLocalDecider`, a service key) connected to B is polled
 * the same way (every 1 ms, in-process): budget p95 ≤ 1 s.
 *
 * Then the same for ramp steps (docs/autopilot.md): a manual ramp moved
 * between 10 % and 50 % of its audience 20 times with ControlRamp on A,
 * until Decide on A and B and the local decider admit (or no longer admit)
 * a subject inside 50 % and outside 10 %.
 *
 * It then measures the configuration a local decider receives for 1,000
 * flags and 100 running experiments (GetConfiguration): JSON bytes, gzip
 * bytes, and the time to parse and compile it (docs/local-evaluation.md).
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { FlagService, FlagType } from "../gen/lotty/flags/v1/flags_pb.js";
import { DecisionService } from "../gen/lotty/decision/v1/decision_pb.js";
import { compileSnapshot, type SnapshotSource } from "../src/decision/core/index.js";
import { assignVariant, bucketOf, rampRanges, variantRanges } from "../src/decision/bucketing.js";
import { RampControl, RampSafetyAction } from "../gen/lotty/experiments/v1/experiments_pb.js";
import { client } from "../test/support/clients.js";
import { spawnLotty, type LottyProcess } from "../test/support/process.js";
import {
  makeTeam,
  makeTypedFlag,
  runExperiment,
  str,
  uniqueKey,
  type Server,
} from "../test/support/builders.js";
import { BENCH_NATS_URL, deleteStreams, withBenchDatabase } from "./support.js";
import { createLocalDecider, type LocalDecider } from "../clients/node/src/index.js";
import { Role } from "../gen/lotty/access/v1/access_pb.js";
import { makeUser } from "../test/support/builders.js";

const CHANGES = 50;
/** Ramp steps up and back (ControlRamp). */
const RAMP_CHANGES = 20;
const POLL_MS = 5;
/** Give up on one change after this long. */
const TIMEOUT_MS = 10_000;
const SIZE_FLAGS = 1_000;
const SIZE_EXPERIMENTS = 100;

interface Started {
  process: LottyProcess;
  baseUrl: string;
}

async function startLotty(env: Record<string, string>): Promise<Started> {
  const lotty = spawnLotty(env);
  const match = await lotty.waitFor(/Lotty is ready on (http:\/\/127\.0\.0\.1:\d+)/, 120_000);
  const baseUrl = match[1] as string;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    const ready = await fetch(`${baseUrl}/ready`).catch(() => undefined);
    if (ready?.status === 200) return { process: lotty, baseUrl };
    await sleep(50);
  }
  throw new Error(`${baseUrl} never became ready:\n${lotty.output()}`);
}

async function stopLotty(started: Started): Promise<void> {
  started.process.child.kill("SIGTERM");
  await started.process.exited;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

function summary(name: string, values: number[]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    [`${name}_p50_ms`]: round(percentile(sorted, 50)),
    [`${name}_p95_ms`]: round(percentile(sorted, 95)),
    [`${name}_max_ms`]: round(sorted.at(-1) as number),
  };
}

export async function propagation(): Promise<Record<string, number>> {
  return withBenchDatabase(async (databaseUrl) => {
    const adminKey = `lotty_${randomBytes(32).toString("base64url")}`;
    const prefix = `BENCH${randomBytes(3).toString("hex").toUpperCase()}`;
    const env = {
      PORT: "0",
      DATABASE_URL: databaseUrl,
      NATS_URL: BENCH_NATS_URL,
      LOTTY_BOOTSTRAP_ADMIN_KEY: adminKey,
      LOTTY_NATS_PREFIX: prefix,
      LOG_LEVEL: "warn",
    };
    // One after the other: the first applies the migrations.
    const a = await startLotty(env);
    let b: Started | undefined;
    let local: LocalDecider | undefined;
    try {
      b = await startLotty(env);
      const serverA: Server = { baseUrl: a.baseUrl, adminKey };
      const flagsA = client(FlagService, a.baseUrl, adminKey);
      const decideA = client(DecisionService, a.baseUrl, adminKey);
      const decideB = client(DecisionService, b.baseUrl, adminKey);
      const flagKey = await makeTypedFlag(serverA, FlagType.STRING, "v-start");

      const valueOn = async (decide: typeof decideA): Promise<string | undefined> => {
        const { decisions } = await decide.decide({ subjectId: "p7", flagKeys: [flagKey] });
        const kind = decisions[0]?.value?.kind;
        return kind?.case === "stringValue" ? kind.value : undefined;
      };
      /** Ms from `since` until `decide` answers `value`, polling every POLL_MS, and the polls it took. */
      const until = async (decide: typeof decideA, value: string, since: number) => {
        for (let polls = 1; ; polls++) {
          if ((await valueOn(decide)) === value) return { ms: performance.now() - since, polls };
          if (performance.now() - since > TIMEOUT_MS) {
            throw new Error(`Decide did not answer ${value} within ${TIMEOUT_MS} ms`);
          }
          await sleep(POLL_MS);
        }
      };
      // Both know the flag before the first change.
      await until(decideB, "v-start", performance.now());
      const serviceKey = (await makeUser(serverA, Role.SERVICE)).key;
      local = createLocalDecider({
        baseUrl: b.baseUrl,
        apiKey: serviceKey,
        logger: { warn: () => {}, error: () => {} },
        events: false,
      });
      await local.ready();
      const localDecider = local;
      const localValue = () => {
        const value = localDecider.decide({ subjectId: "p7", flagKeys: [flagKey] })[0]?.value;
        return typeof value === "string" ? value : undefined;
      };
      const untilLocal = async (value: string, since: number) => {
        while (localValue() !== value) {
          if (performance.now() - since > TIMEOUT_MS) {
            throw new Error(`the local decider did not answer ${value} within ${TIMEOUT_MS} ms`);
          }
          await sleep(1);
        }
        return performance.now() - since;
      };
      await untilLocal("v-start", performance.now());
      const onLocal: number[] = [];

      const onA: number[] = [];
      const onB: number[] = [];
      const rpc: number[] = [];
      /** Changes A answered with on the very first Decide after UpdateFlag returned. */
      let firstAnswerOnA = 0;
      for (let i = 0; i < CHANGES; i++) {
        const value = `v-${i}`;
        const sent = performance.now();
        await flagsA.updateFlag({ key: flagKey, defaultValue: str(value) });
        const returned = performance.now();
        rpc.push(returned - sent);
        const [fromA, fromB, fromLocal] = await Promise.all([
          until(decideA, value, returned),
          until(decideB, value, returned),
          untilLocal(value, returned),
        ]);
        onA.push(fromA.ms);
        onB.push(fromB.ms);
        onLocal.push(fromLocal);
        if (fromA.polls === 1) firstAnswerOnA++;
        // Changes apart from each other, at varying phases of B's version poll.
        await sleep(100 + Math.floor(Math.random() * 200));
      }

      // Ramp steps (docs/autopilot.md): a subject the 50 % step admits and the
      // 10 % step does not, on a manual ramp moved up and back through A.
      const team = await makeTeam(serverA);
      const rampFlag = await makeTypedFlag(serverA, FlagType.STRING, "grey");
      const ramped = await runExperiment(serverA, team, rampFlag, {
        targetingRule: "",
        rampPlan: {
          steps: [10, 50, 100],
          gates: { minStepSeconds: 86_400 },
          safetyAction: RampSafetyAction.PAUSE,
        },
      });
      const control = (action: RampControl, comment: string) =>
        team.owner.experiments.controlRamp({ id: ramped.id, action, comment });
      await control(RampControl.MANUAL, "benchmark");
      const layout = ramped.variants.map((v) => ({ key: v.key, weight: v.weight }));
      const ranges = variantRanges(layout, ramped.audiencePercent);
      const inAt = (percent: number, subject: string) =>
        assignVariant(bucketOf(ramped.id, subject), rampRanges(ranges, percent)) !== undefined;
      let rampSubject = "";
      for (let i = 0; rampSubject === ""; i++) {
        if (inAt(50, `r-${i}`) && !inAt(10, `r-${i}`)) rampSubject = `r-${i}`;
      }
      const admitted = async (decide: typeof decideA) => {
        const { decisions } = await decide.decide({ subjectId: rampSubject, flagKeys: [rampFlag] });
        return decisions[0]?.variantKey !== "";
      };
      const untilAdmitted = async (decide: typeof decideA, want: boolean, since: number) => {
        while ((await admitted(decide)) !== want) {
          if (performance.now() - since > TIMEOUT_MS) {
            throw new Error(`Decide did not follow the ramp step within ${TIMEOUT_MS} ms`);
          }
          await sleep(POLL_MS);
        }
        return performance.now() - since;
      };
      const untilLocalAdmitted = async (want: boolean, since: number) => {
        const now = () =>
          localDecider.decide({ subjectId: rampSubject, flagKeys: [rampFlag] })[0]?.variantKey;
        while ((now() !== undefined && now() !== "") !== want) {
          if (performance.now() - since > TIMEOUT_MS) {
            throw new Error(
              `the local decider did not follow the ramp step within ${TIMEOUT_MS} ms`,
            );
          }
          await sleep(1);
        }
        return performance.now() - since;
      };
      await untilAdmitted(decideB, false, performance.now());
      const rampOnA: number[] = [];
      const rampOnB: number[] = [];
      const rampOnLocal: number[] = [];
      const rampRpc: number[] = [];
      for (let i = 0; i < RAMP_CHANGES; i++) {
        const up = i % 2 === 0;
        const sent = performance.now();
        await control(up ? RampControl.ADVANCE : RampControl.STEP_BACK, `step ${i}`);
        const returned = performance.now();
        rampRpc.push(returned - sent);
        const [fromA, fromB, fromLocal] = await Promise.all([
          untilAdmitted(decideA, up, returned),
          untilAdmitted(decideB, up, returned),
          untilLocalAdmitted(up, returned),
        ]);
        rampOnA.push(fromA);
        rampOnB.push(fromB);
        rampOnLocal.push(fromLocal);
        await sleep(100 + Math.floor(Math.random() * 200));
      }

      // The size of a configuration with 1,000 flags and 100 experiments.
      const keys: string[] = [];
      for (let i = 0; i < SIZE_FLAGS; i++) {
        keys.push(await makeTypedFlag(serverA, FlagType.STRING, "grey", uniqueKey("size")));
      }
      for (let i = 0; i < SIZE_EXPERIMENTS; i++) {
        await runExperiment(serverA, team, keys[i] as string, {});
      }
      const { configuration } = await decideA.getConfiguration({});
      const json = configuration!.sourceJson;
      const source = JSON.parse(json) as SnapshotSource;
      const compileStarted = performance.now();
      const rounds = 20;
      for (let i = 0; i < rounds; i++) compileSnapshot(JSON.parse(json) as SnapshotSource);
      const compileMs = (performance.now() - compileStarted) / rounds;

      return {
        changes: CHANGES,
        ...summary("other_process", onB),
        ...summary("same_process", onA),
        ...summary("local_decider_on_other_process", onLocal),
        same_process_first_decide_new: firstAnswerOnA,
        ...summary("update_flag_rpc", rpc),
        ramp_changes: RAMP_CHANGES,
        ...summary("ramp_step_other_process", rampOnB),
        ...summary("ramp_step_same_process", rampOnA),
        ...summary("ramp_step_local_decider", rampOnLocal),
        ...summary("control_ramp_rpc", rampRpc),
        configuration_flags: source.flags.length,
        configuration_experiments: source.experiments.length,
        configuration_json_bytes: Buffer.byteLength(json, "utf8"),
        configuration_gzip_bytes: gzipSync(json).length,
        configuration_parse_and_compile_ms: round(compileMs),
      };
    } finally {
      await local?.close();
      if (b !== undefined) await stopLotty(b);
      await stopLotty(a);
      await deleteStreams(prefix);
    }
  });
}
