/**
 * Decision ids: round trips, determinism, the exact wire format, and that
 * anything tampered with, foreign or malformed verifies to undefined without
 * throwing (including fuzzed input).
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  MAX_DECISION_ID_LENGTH,
  createDecisionSigner,
  createLocalDecisionSigner,
  deriveLocalSigningKey,
  verifyLocalDecisionId,
  type DecisionClaims,
} from "../../src/decision/decision-id.js";

const SECRET = "test-secret-0123456789abcdef0123456789abcdef";
const signer = createDecisionSigner(SECRET);

const withExperiment: DecisionClaims = {
  flagKey: "checkout-button",
  subjectId: "user-42",
  experimentId: "0190d6c2-8a4e-7c4b-9f1e-5a3b2c1d0e9f",
  variantKey: "treatment",
  configVersion: 3,
};
const withoutExperiment: DecisionClaims = {
  flagKey: "dark-mode",
  subjectId: "user-42",
  configVersion: 0,
};

/** Replaces the character at `index` with a different base64url character. */
function flipChar(id: string, index: number): string {
  const c = id[index];
  return id.slice(0, index) + (c === "A" ? "B" : "A") + id.slice(index + 1);
}

describe("sign and verify", () => {
  it.each([
    ["with an experiment", withExperiment],
    ["without an experiment", withoutExperiment],
    ["with a non-ASCII subject id", { ...withExperiment, subjectId: "пользователь-😀-日本" }],
    ["with quotes and separators", { ...withExperiment, subjectId: 'a."b",[c]\\d' }],
    ["with an empty subject id", { ...withoutExperiment, subjectId: "" }],
    ["with a large version", { ...withExperiment, configVersion: Number.MAX_SAFE_INTEGER }],
  ])("round-trips %s", (_name, claims: DecisionClaims) => {
    const id = signer.sign(claims);
    expect(id).toMatch(/^d1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(signer.verify(id)).toEqual(claims);
  });

  it("omits an absent experiment and variant instead of returning empty strings", () => {
    const claims = signer.verify(signer.sign(withoutExperiment));
    expect(claims).toBeDefined();
    expect(Object.keys(claims as object).sort()).toEqual(["configVersion", "flagKey", "subjectId"]);
  });

  it("round-trips arbitrary claims", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            flagKey: fc.string({ minLength: 1, maxLength: 40 }),
            subjectId: fc.string({ maxLength: 100, unit: "grapheme" }),
            experimentId: fc.string({ minLength: 1, maxLength: 40 }),
            variantKey: fc.string({ minLength: 1, maxLength: 20 }),
            configVersion: fc.nat(),
          },
          { requiredKeys: ["flagKey", "subjectId", "configVersion"] },
        ),
        (claims) => {
          expect(signer.verify(signer.sign(claims))).toEqual(claims);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("is deterministic, including across signers with the same secret", () => {
    const id = signer.sign(withExperiment);
    expect(signer.sign({ ...withExperiment })).toBe(id);
    expect(createDecisionSigner(SECRET).sign(withExperiment)).toBe(id);
    expect(signer.sign({ ...withExperiment, configVersion: 4 })).not.toBe(id);
  });

  it("follows the documented format", () => {
    const id = signer.sign(withExperiment);
    const [version, payload, tag] = id.split(".") as [string, string, string];
    expect(version).toBe("d1");
    expect(JSON.parse(Buffer.from(payload, "base64url").toString("utf8"))).toEqual([
      "checkout-button",
      "user-42",
      "0190d6c2-8a4e-7c4b-9f1e-5a3b2c1d0e9f",
      "treatment",
      3,
    ]);
    const expectedTag = createHmac("sha256", SECRET)
      .update(`d1.${payload}`)
      .digest()
      .subarray(0, 16)
      .toString("base64url");
    expect(tag).toBe(expectedTag);
  });

  it("computes the same tag as createHmac for any secret, short or longer than a block", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 200, unit: "binary" }),
        fc.string({ maxLength: 300, unit: "binary" }),
        (secret, subjectId) => {
          const id = createDecisionSigner(secret).sign({ ...withoutExperiment, subjectId });
          const dot = id.lastIndexOf(".");
          const expected = createHmac("sha256", Buffer.from(secret, "utf8"))
            .update(id.slice(0, dot))
            .digest()
            .subarray(0, 16)
            .toString("base64url");
          expect(id.slice(dot + 1)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ["a negative version", { ...withoutExperiment, configVersion: -1 }, RangeError],
    ["a fractional version", { ...withoutExperiment, configVersion: 1.5 }, RangeError],
    ["a non-string subject", { ...withoutExperiment, subjectId: 42 }, TypeError],
    ["a non-string experiment id", { ...withExperiment, experimentId: 7 }, TypeError],
    [
      "claims too long for an id",
      { ...withoutExperiment, subjectId: "x".repeat(2000) },
      RangeError,
    ],
  ])("refuses to sign %s", (_name, claims, error) => {
    expect(() => signer.sign(claims as unknown as DecisionClaims)).toThrow(error);
  });

  it("refuses an empty secret", () => {
    expect(() => createDecisionSigner("")).toThrow(TypeError);
  });
});

describe("verify rejects", () => {
  const id = signer.sign(withExperiment);
  const other = signer.sign({ ...withExperiment, variantKey: "control" });
  const [, payload, tag] = id.split(".") as [string, string, string];
  const [, otherPayload, otherTag] = other.split(".") as [string, string, string];

  it("a flip of any payload or tag character", () => {
    for (let i = 3; i < id.length; i++) {
      if (id[i] === ".") continue;
      expect(signer.verify(flipChar(id, i))).toBeUndefined();
    }
  });

  it("payloads swapped between two genuine ids", () => {
    expect(signer.verify(`d1.${otherPayload}.${tag}`)).toBeUndefined();
    expect(signer.verify(`d1.${payload}.${otherTag}`)).toBeUndefined();
    expect(signer.verify(other)).toEqual({ ...withExperiment, variantKey: "control" });
  });

  it("truncated and extended ids", () => {
    for (let n = 0; n < id.length; n++) expect(signer.verify(id.slice(0, n))).toBeUndefined();
    expect(signer.verify(id + "A")).toBeUndefined();
    expect(signer.verify(id + ".")).toBeUndefined();
    expect(signer.verify(id + ".x")).toBeUndefined();
  });

  it("an id signed with another secret", () => {
    const foreign = createDecisionSigner("another-secret").sign(withExperiment);
    expect(foreign).not.toBe(id);
    expect(signer.verify(foreign)).toBeUndefined();
  });

  it("another version prefix", () => {
    expect(signer.verify(`d2.${payload}.${tag}`)).toBeUndefined();
    expect(signer.verify(`D1.${payload}.${tag}`)).toBeUndefined();
    expect(signer.verify(`${payload}.${tag}`)).toBeUndefined();
  });

  it("a non-canonical encoding of the right tag", () => {
    // The last of 22 characters carries 2 bits; changing the 4 padding bits
    // decodes to the same bytes, but only the canonical text is accepted.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(tag[21] as string);
    const variant = tag.slice(0, 21) + alphabet[last ^ 1];
    expect(Buffer.from(variant, "base64url")).toEqual(Buffer.from(tag, "base64url"));
    expect(signer.verify(`d1.${payload}.${variant}`)).toBeUndefined();
  });

  it("a genuine tag over a payload that is not the claims array", () => {
    // Claims are checked after the tag, so sign malformed payloads the way
    // the signer would and confirm they are still refused.
    const forge = (json: string) => {
      const p = Buffer.from(json, "utf8").toString("base64url");
      const t = createHmac("sha256", SECRET)
        .update(`d1.${p}`)
        .digest()
        .subarray(0, 16)
        .toString("base64url");
      return `d1.${p}.${t}`;
    };
    expect(signer.verify(forge('["f","s","","",1]'))).toEqual({
      flagKey: "f",
      subjectId: "s",
      configVersion: 1,
    });
    for (const json of [
      "{}",
      "[]",
      '["f","s","","",1,2]',
      '["f","s","",""]',
      '["f","s","","",-1]',
      '["f","s","","",1.5]',
      '["f","s","","","1"]',
      '["f",2,"","",1]',
      '["f","s",null,"",1]',
      "not json",
      "null",
    ]) {
      expect(signer.verify(forge(json))).toBeUndefined();
    }
  });

  it.each([
    ["empty", ""],
    ["only the prefix", "d1."],
    ["empty parts", "d1.."],
    ["three dots", "d1..."],
    ["spaces", "d1. . "],
    ["non-ASCII", `d1.${payload}.${"é".repeat(22)}`],
    ["padding", `d1.${payload}=.${tag}`],
    ["standard base64 characters", `d1.${payload.replace(/-/g, "+")}+.${tag}`],
    ["10 KB", "d1." + "A".repeat(10_240) + "." + tag],
    ["just over the limit", "d1." + "A".repeat(MAX_DECISION_ID_LENGTH) + "." + tag],
  ])("malformed input: %s", (_name, input) => {
    expect(signer.verify(input)).toBeUndefined();
  });

  it("non-string input without throwing", () => {
    for (const input of [undefined, null, 42, {}, ["d1"]]) {
      expect(signer.verify(input as unknown as string)).toBeUndefined();
    }
  });

  it("random strings and mutations of genuine ids (fuzz)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 3000 }),
          fc.string({ unit: "binary", maxLength: 200 }),
          fc.string({ maxLength: 60 }).map((s) => `d1.${s}`),
          fc
            .tuple(fc.nat({ max: id.length - 1 }), fc.string({ maxLength: 4 }))
            .map(([at, s]) => id.slice(0, at) + s + id.slice(at + 1))
            .filter((s) => s !== id),
        ),
        (input) => {
          expect(signer.verify(input)).toBeUndefined();
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("secret rotation", () => {
  it("accepts ids signed with a previous secret and signs with the current one", () => {
    const old = createDecisionSigner("old-secret");
    const rotated = createDecisionSigner("new-secret", { previousSecrets: ["old-secret"] });
    const oldId = old.sign(withExperiment);
    expect(rotated.verify(oldId)).toEqual(withExperiment);
    const newId = rotated.sign(withExperiment);
    expect(newId).toBe(createDecisionSigner("new-secret").sign(withExperiment));
    expect(old.verify(newId)).toBeUndefined();
    expect(createDecisionSigner("new-secret").verify(oldId)).toBeUndefined();
  });
});

describe("local decision ids (d2)", () => {
  const keyId = "0b5f8a52-3a4e-4c57-9d0e-6c1f2a7b9e10";
  const secret = deriveLocalSigningKey("s".repeat(40), keyId);
  const claims = {
    flagKey: "checkout",
    subjectId: "user-1",
    experimentId: "e1",
    variantKey: "blue",
    configVersion: 3,
  };

  it("derives one 32-byte key per API key, the same every time", () => {
    expect(secret).toHaveLength(32);
    expect(deriveLocalSigningKey("s".repeat(40), keyId)).toEqual(secret);
    expect(
      deriveLocalSigningKey("s".repeat(40), "1b5f8a52-3a4e-4c57-9d0e-6c1f2a7b9e10"),
    ).not.toEqual(secret);
    expect(deriveLocalSigningKey("t".repeat(40), keyId)).not.toEqual(secret);
  });

  it("signs ids the server verifies by deriving the key again", () => {
    const signer = createLocalDecisionSigner(keyId, secret, () => 1_700_000_000_500);
    const id = signer.sign(claims);
    expect(id.startsWith(`d2.${keyId}.`)).toBe(true);
    expect(verifyLocalDecisionId(id, (k) => deriveLocalSigningKey("s".repeat(40), k))).toEqual({
      ...claims,
      keyId,
      issuedAt: 1_700_000_000,
    });
    expect(signer.verify(id)).toMatchObject(claims);
  });

  it("rejects another key's, a tampered or a revoked key's id", () => {
    const id = createLocalDecisionSigner(keyId, secret).sign(claims);
    const otherKey = deriveLocalSigningKey("s".repeat(40), "1b5f8a52-3a4e-4c57-9d0e-6c1f2a7b9e10");
    expect(verifyLocalDecisionId(id, () => otherKey)).toBeUndefined();
    expect(verifyLocalDecisionId(id, () => undefined)).toBeUndefined();
    const [prefix, key, payload, tag] = id.split(".");
    const forged = Buffer.from(
      JSON.stringify(["checkout", "user-1", "e1", "control", 3, 1]),
    ).toString("base64url");
    expect(
      verifyLocalDecisionId(`${prefix}.${key}.${forged}.${tag}`, () => secret),
    ).toBeUndefined();
    expect(
      verifyLocalDecisionId(`${prefix}.${key}.${payload}.${tag!.slice(1)}A`, () => secret),
    ).toBeUndefined();
    // A server id is not a local one, and the other way round.
    expect(createDecisionSigner("s".repeat(40)).verify(id)).toBeUndefined();
  });
});
