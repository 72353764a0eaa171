/**
 * How ingestion checks a decision id, without a lookup per event
 * (docs/decision-ids.md):
 *
 *  - d1 (the server's): the signer's HMAC.
 *  - d2 (a service's local decider): the HMAC with the key derived from
 *    the server secret and the id's key id — only for a key id the access
 *    module's registry knows as a service key — and then the key's status:
 *    ids issued at or after its revocation (compared in whole seconds, so
 *    ids of the revocation's own second are rejected too) are refused, and
 *    once the 7-day attribution horizon has passed since the revocation
 *    every id of the key is; so is an id issued more than the allowed clock
 *    skew in the future.
 *
 * Genuine ids are remembered with their claims (an exposure and the events
 * after it carry the same id, and the HMAC is the largest part of
 * validating an event); a local id's key status is checked on every use,
 * so a revocation applies to ids already seen.
 */
import {
  verifyLocalDecisionId,
  type DecisionClaims,
  type DecisionSigner,
  type LocalDecisionClaims,
} from "../decision/lookup.js";
import type { ServiceKeys } from "../access/lookup.js";
import { EVENT_LIMITS } from "./validation.js";

const LOCAL_PREFIX = "d2.";

/** A signer for validateEvent, with the reason a genuine local id is refused. */
export interface IngestVerifier extends DecisionSigner {
  /** Why `id` is refused although its signature is genuine; undefined otherwise. */
  rejectionOf(id: string): string | undefined;
}

export class DecisionIdVerifier {
  private readonly claims = new Map<string, DecisionClaims>();

  constructor(
    private readonly capacity: number,
    private readonly serviceKeys: ServiceKeys,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A verifier for one ingestion call: server ids through `signer`, local
   * ids with `localKey` (the derived key of a key id).
   */
  for(signer: DecisionSigner, localKey: (keyId: string) => Uint8Array): IngestVerifier {
    const keyFor = (keyId: string) =>
      this.serviceKeys.status(keyId) === undefined ? undefined : localKey(keyId);
    const genuine = (id: string): DecisionClaims | undefined => {
      const known = this.claims.get(id);
      if (known !== undefined) return known;
      const claims = id.startsWith(LOCAL_PREFIX)
        ? verifyLocalDecisionId(id, keyFor)
        : signer.verify(id);
      if (claims !== undefined) {
        if (this.claims.size >= this.capacity) this.claims.clear();
        this.claims.set(id, claims);
      }
      return claims;
    };
    const rejectionOf = (id: string): string | undefined => {
      const claims = genuine(id);
      return claims !== undefined && "keyId" in claims
        ? this.problemOf(claims as LocalDecisionClaims)
        : undefined;
    };
    return {
      sign: (claims) => signer.sign(claims),
      verify: (id) => {
        const claims = genuine(id);
        if (claims === undefined) return undefined;
        if ("keyId" in claims && this.problemOf(claims as LocalDecisionClaims) !== undefined) {
          return undefined;
        }
        return claims;
      },
      rejectionOf,
    };
  }

  /** Why a genuine local id is refused now, or undefined when it is accepted. */
  private problemOf(claims: LocalDecisionClaims): string | undefined {
    const status = this.serviceKeys.status(claims.keyId);
    if (status === undefined) {
      return "decision_id: was signed with an API key that is no longer a service key of this Lotty";
    }
    const now = this.now();
    if (status.revokedAtMs !== undefined) {
      if (claims.issuedAt >= Math.floor(status.revokedAtMs / 1000)) {
        return "decision_id: was signed after its API key was revoked";
      }
      if (now > status.revokedAtMs + EVENT_LIMITS.horizonMs) {
        return "decision_id: its API key was revoked more than 7 days ago";
      }
    }
    if (claims.issuedAt * 1000 > now + EVENT_LIMITS.futureSkewMs) {
      return "decision_id: was signed more than 5 minutes in the future";
    }
    return undefined;
  }
}
