/**
 * Signed local decisions (issue #20, docs/decision-ids.md#local-decisions):
 * the configuration stream hands a service key its signing key (admins get
 * none); ingestion accepts a local decider's d2 ids and attributes them as
 * server decisions; forged ids and other keys' ids are rejected; after
 * RevokeApiKey, ids issued later are rejected and earlier ones accepted —
 * on the node that revoked and, through the bus, on another node.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { DecisionService } from "../../gen/lotty/decision/v1/decision_pb.js";
import { EventErrorCode, EventService } from "../../gen/lotty/events/v1/events_pb.js";
import {
  compileSnapshot,
  createDecider,
  type SnapshotSource,
} from "../../src/decision/core/index.js";
import { DecisionIdVerifier } from "../../src/events/decision-ids.js";
import {
  createDecisionSigner,
  createLocalDecisionSigner,
  deriveLocalSigningKey,
  type DecisionSigner,
} from "../../src/decision/decision-id.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { makeUser, runningExperiment, type Server } from "../support/builders.js";
import { event, exposureRow, query, untilStored } from "./support.js";

/** A service user's API key with the signing key the configuration stream gives it. */
async function serviceKey(t: Server) {
  const user = await makeUser(t, Role.SERVICE);
  const decision = client(DecisionService, t.baseUrl, user.key);
  const { signingKey, configuration } = await decision.getConfiguration({});
  return {
    ...user,
    keyId: signingKey!.keyId,
    secret: signingKey!.secret,
    source: JSON.parse(configuration!.sourceJson) as SnapshotSource,
    events: client(EventService, t.baseUrl, user.key),
  };
}

/** The decision a local decider with `signer` makes for `subjectId`. */
function localDecision(
  source: SnapshotSource,
  signer: DecisionSigner,
  flagKey: string,
  subjectId: string,
) {
  const decision = createDecider(signer).decide(compileSnapshot(source), {
    subjectId,
    attributes: {},
    flagKeys: [flagKey],
  })[0]!;
  return decision;
}

describe("signed local decisions", () => {
  let t: TestApp;
  let flagKey: string;
  let experimentId: string;
  let service: Awaited<ReturnType<typeof serviceKey>>;

  beforeAll(async () => {
    t = await startTestApp();
    ({ flagKey, experimentId } = await runningExperiment(t));
    service = await serviceKey(t);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("gives a service key its derived signing key, and an admin none", async () => {
    const { apiKeyId } = await client(AccessService, t.baseUrl, service.key).getCurrentUser({});
    expect(service.keyId).toBe(apiKeyId);
    expect(Buffer.from(service.secret)).toEqual(
      Buffer.from(deriveLocalSigningKey(t.app.serverSecret!, apiKeyId)),
    );
    // The stream sends it with its first message only.
    const abort = new AbortController();
    const stream = client(DecisionService, t.baseUrl, service.key).watchConfiguration(
      {},
      { signal: abort.signal },
    );
    const first = (await stream[Symbol.asyncIterator]().next()).value!;
    expect(first.signingKey?.keyId).toBe(apiKeyId);
    abort.abort();

    const admin = client(DecisionService, t.baseUrl, t.adminKey);
    const answer = await admin.getConfiguration({});
    expect(answer.configuration).toBeDefined();
    expect(answer.signingKey).toBeUndefined();
  });

  it("accepts a local decider's ids and attributes them like the server's", async () => {
    const signer = createLocalDecisionSigner(service.keyId, service.secret);
    const subjectId = `local-${randomBytes(4).toString("hex")}`;
    const local = localDecision(service.source, signer, flagKey, subjectId);
    expect(local.decisionId!.startsWith(`d2.${service.keyId}.`)).toBe(true);
    const remote = t.app.decision.decide({ subjectId, flagKeys: [flagKey] }).decisions[0]!;
    expect([local.experimentId, local.variantKey]).toEqual([
      remote.experimentId,
      remote.variantKey,
    ]);
    expect(local.experimentId).toBe(experimentId);

    const exposure = event("exposure", local.decisionId!);
    const answer = await service.events.ingestEvents({ events: [exposure] });
    expect(answer).toMatchObject({ accepted: 1, rejected: 0 });
    await untilStored(t, [exposure.eventId]);
    const [stored] = await query<{
      flag_key: string;
      experiment_id: string;
      variant_key: string;
      subject_id: string;
    }>(
      t,
      `select flag_key, experiment_id, variant_key, subject_id from events where event_id = $1`,
      [exposure.eventId],
    );
    expect(stored).toEqual({
      flag_key: flagKey,
      experiment_id: experimentId,
      variant_key: local.variantKey,
      subject_id: subjectId,
    });
    await waitFor(async () => (await exposureRow(t, local.decisionId!)) !== undefined);
    expect(await exposureRow(t, local.decisionId!)).toMatchObject({
      experiment_id: experimentId,
      variant_key: local.variantKey,
      subject_id: subjectId,
    });
  });

  it("rejects forged ids, other keys' ids and claims the snapshot does not know", async () => {
    const subjectId = "forged";
    const viewer = await makeUser(t, Role.VIEWER);
    const { apiKeyId: viewerKeyId } = await client(
      AccessService,
      t.baseUrl,
      viewer.key,
    ).getCurrentUser({});
    const other = await serviceKey(t);
    const ids = {
      // A made-up key under the service's key id.
      randomKey: createLocalDecisionSigner(service.keyId, randomBytes(32)),
      // Another service's key id, signed with this service's key.
      otherKeyId: createLocalDecisionSigner(other.keyId, service.secret),
      // A key that is not a service's, even correctly derived.
      viewerKey: createLocalDecisionSigner(
        viewerKeyId,
        deriveLocalSigningKey(t.app.serverSecret!, viewerKeyId),
      ),
    };
    const events = Object.values(ids).map((signer) =>
      event("exposure", localDecision(service.source, signer, flagKey, subjectId).decisionId!),
    );
    // A genuine id with a flag this Lotty does not know.
    const genuine = createLocalDecisionSigner(service.keyId, service.secret);
    events.push(
      event("exposure", genuine.sign({ flagKey: "no-such-flag", subjectId, configVersion: 0 })),
    );
    // An altered id: the payload of a genuine one with another subject.
    const real = genuine.sign({ flagKey, subjectId: "a", configVersion: 0 }).split(".");
    const altered = genuine.sign({ flagKey, subjectId: "b", configVersion: 0 }).split(".");
    events.push(event("exposure", [real[0], real[1], altered[2], real[3]].join(".")));

    const answer = await service.events.ingestEvents({ events });
    expect(answer.accepted).toBe(0);
    expect(answer.errors.map((e) => e.code)).toEqual(
      events.map(() => EventErrorCode.INVALID_DECISION_ID),
    );
    expect(answer.errors[0]!.message).toContain("is not a decision id issued by this Lotty");
    expect(answer.errors[3]!.message).toContain("does not know");
  });

  it("after RevokeApiKey, rejects ids issued later and accepts earlier ones, on every node", async () => {
    const revoked = await serviceKey(t);
    const subjectId = "revoked";
    const idAt = (ms: number) =>
      localDecision(
        revoked.source,
        createLocalDecisionSigner(revoked.keyId, revoked.secret, () => ms),
        flagKey,
        subjectId,
      ).decisionId!;
    const earlier = idAt(Date.now() - 60_000);
    const seenBefore = idAt(Date.now() + 3_000);
    // A second node on the same database and bus, which learns of the revocation through NATS.
    const b = await startTestApp({ database: t.database, busPrefix: t.app.names.streamPrefix });
    try {
      const bEvents = client(EventService, b.baseUrl, service.key);
      // Verified (and remembered) before the revocation.
      expect(
        (await service.events.ingestEvents({ events: [event("exposure", seenBefore)] })).accepted,
      ).toBe(1);

      const { apiKey } = await client(AccessService, t.baseUrl, t.adminKey).revokeApiKey({
        id: revoked.keyId,
      });
      const revokedAt = timestampMs(apiKey!.revokedAt!);
      const later = idAt(revokedAt + 1_000);
      const sameSecond = idAt(Math.floor(revokedAt / 1000) * 1000);

      const answer = await service.events.ingestEvents({
        events: [earlier, later, sameSecond, seenBefore].map((id) => event("exposure", id)),
      });
      expect(answer.accepted).toBe(1);
      expect(answer.errors.map((e) => [e.index, e.code])).toEqual([
        [1, EventErrorCode.INVALID_DECISION_ID],
        [2, EventErrorCode.INVALID_DECISION_ID],
        [3, EventErrorCode.INVALID_DECISION_ID],
      ]);
      expect(answer.errors[0]!.message).toBe(
        "decision_id: was signed after its API key was revoked",
      );

      // The other node: the same answers once the bus told it.
      await waitFor(async () => {
        const r = await bEvents.ingestEvents({ events: [event("exposure", later)] });
        return r.rejected === 1;
      }, 10_000);
      const onB = await bEvents.ingestEvents({
        events: [earlier, later].map((id) => event("exposure", id)),
      });
      expect(onB.accepted).toBe(1);
      expect(onB.errors.map((e) => e.index)).toEqual([1]);
    } finally {
      await b.stop();
    }
  });

  it("accepts a new service key's ids on another node without waiting for the poll", async () => {
    const b = await startTestApp({ database: t.database, busPrefix: t.app.names.streamPrefix });
    try {
      const fresh = await serviceKey(t);
      const id = localDecision(
        fresh.source,
        createLocalDecisionSigner(fresh.keyId, fresh.secret),
        flagKey,
        "fresh",
      ).decisionId!;
      const bEvents = client(EventService, b.baseUrl, fresh.key);
      const started = performance.now();
      await waitFor(async () => {
        const r = await bEvents.ingestEvents({ events: [event("exposure", id)] });
        return r.accepted === 1;
      }, 10_000);
      // The poll runs every 5 s; the notification arrives well before.
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await b.stop();
    }
  });
});

describe("DecisionIdVerifier (no server)", () => {
  const secret = "a server secret";
  const keyId = "0b4f3c6e-2d0a-4c55-9a55-3f3b9f0d8a11";
  const key = deriveLocalSigningKey(secret, keyId);
  const server = createDecisionSigner(secret);
  const claims = { flagKey: "f", subjectId: "s", configVersion: 0 };

  function verifierWith(revokedAtMs: number | undefined, now: number) {
    const keys = new Map([[keyId, { revokedAtMs }]]);
    return new DecisionIdVerifier(100, { status: (id) => keys.get(id) }, () => now).for(
      server,
      (id) => deriveLocalSigningKey(secret, id),
    );
  }
  const localId = (atMs: number) => createLocalDecisionSigner(keyId, key, () => atMs).sign(claims);

  it("accepts server ids and live keys' local ids", () => {
    const v = verifierWith(undefined, 1_000_000_000);
    expect(v.verify(server.sign(claims))).toEqual(claims);
    expect(v.verify(localId(999_000_000))).toMatchObject({ ...claims, keyId, issuedAt: 999_000 });
  });

  it("rejects ids issued more than 5 minutes in the future", () => {
    const v = verifierWith(undefined, 1_000_000_000);
    const id = localId(1_000_000_000 + 6 * 60_000);
    expect(v.verify(id)).toBeUndefined();
    expect(v.rejectionOf(id)).toContain("in the future");
  });

  it("rejects every id of a key revoked more than 7 days ago", () => {
    const revokedAt = 1_000_000_000;
    const id = localId(revokedAt - 60_000);
    expect(verifierWith(revokedAt, revokedAt + 60_000).verify(id)).toBeDefined();
    const late = verifierWith(revokedAt, revokedAt + 8 * 86_400_000);
    expect(late.verify(id)).toBeUndefined();
    expect(late.rejectionOf(id)).toContain("more than 7 days ago");
  });

  it("knows no local key the registry does not list", () => {
    const v = new DecisionIdVerifier(100, { status: () => undefined }).for(server, (id) =>
      deriveLocalSigningKey(secret, id),
    );
    const id = localId(Date.now());
    expect(v.verify(id)).toBeUndefined();
    expect(v.rejectionOf(id)).toBeUndefined();
  });
});
