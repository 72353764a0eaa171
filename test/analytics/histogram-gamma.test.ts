/**
 * HISTOGRAM_GAMMA (src/reports/queries.ts) turns histogram buckets back into
 * values; lotty_value_bucket() (created in SQL by the ReportRollups
 * migration) puts values into those buckets. Nothing else ties the two, so
 * this reads the migration's SQL and checks that it uses the same γ.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "@jest/globals";
import { HISTOGRAM_GAMMA, bucketValue } from "../../src/analytics/index.js";

const MIGRATION = fileURLToPath(
  new URL("../../migrations/Migration20261122190000_ReportRollups.ts", import.meta.url),
);

/** The body of `create function lotty_value_bucket(…) … $$ … $$`. */
function bucketFunctionSql(): string {
  const source = readFileSync(MIGRATION, "utf8");
  const match = /create function lotty_value_bucket\(x numeric\)[\s\S]*?\$\$([\s\S]*?)\$\$/.exec(
    source,
  );
  if (match === null) throw new Error("lotty_value_bucket() not found in the migration");
  return match[1]!;
}

/** Every γ the function divides by: `ln(A::float8 / B::float8)` → A / B. */
function gammasInSql(sql: string): number[] {
  return [...sql.matchAll(/ln\(\s*([\d.]+)::float8\s*\/\s*([\d.]+)::float8\s*\)/g)].map(
    (m) => Number(m[1]) / Number(m[2]),
  );
}

/** lotty_value_bucket() transcribed for x > 0, with the γ read from the migration. */
function sqlBucket(x: number, gamma: number): number {
  return 100_000 + Math.ceil(Math.log(x) / Math.log(gamma));
}

describe("histogram γ", () => {
  it("is the same in lotty_value_bucket() and HISTOGRAM_GAMMA", () => {
    const gammas = gammasInSql(bucketFunctionSql());
    // One for positive values, one for negative ones.
    expect(gammas).toHaveLength(2);
    for (const gamma of gammas) expect(gamma).toBe(HISTOGRAM_GAMMA);
  });

  it("makes bucketValue() stand within 1 % of every value the SQL puts in the bucket", () => {
    const [gamma] = gammasInSql(bucketFunctionSql());
    for (const x of [0.001, 0.5, 1, 1.5, 10, 99.9, 1234.5, 1e6]) {
      const value = bucketValue(sqlBucket(x, gamma!));
      expect(Math.abs(value - x) / x).toBeLessThanOrEqual(0.01 + 1e-12);
      expect(bucketValue(-sqlBucket(x, gamma!))).toBe(-value);
    }
  });
});
