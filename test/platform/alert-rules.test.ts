/**
 * deploy/prometheus/alerts.yml watches metrics that exist, and every SLO of
 * docs/slo.md has at least one alert (rules name theirs in an `slo` label).
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";

const root = path.resolve(import.meta.dirname, "../..");
const rules = readFileSync(path.join(root, "deploy/prometheus/alerts.yml"), "utf8");
const slo = readFileSync(path.join(root, "docs/slo.md"), "utf8");

function metricsDeclaredInSrc(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith(".ts")) {
        for (const m of readFileSync(file, "utf8").matchAll(/name: "([a-z_]+)"/g)) names.add(m[1]!);
      }
    }
  };
  walk(path.join(root, "src"));
  return names;
}

describe("Prometheus alert rules", () => {
  it("use only metrics that Lotty exports", () => {
    const declared = metricsDeclaredInSrc();
    const used = new Set(
      [...rules.matchAll(/\b((?:lotty|rpc_server)_[a-z_]+)/g)]
        .map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ""))
        .filter((name) => !name.startsWith("lotty_slo")),
    );
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((name) => !declared.has(name))).toEqual([]);
  });

  it("give every SLO of docs/slo.md an alert, and name only SLOs it defines", () => {
    const objectives = [...slo.matchAll(/^\| ([a-z]+(?:-[a-z]+)+) +\|/gm)].map((m) => m[1]!);
    expect(objectives).toEqual(
      expect.arrayContaining([
        "decide-availability",
        "decide-latency",
        "ingest-availability",
        "ingest-latency",
        "ingest-stored",
        "report-freshness",
        "report-latency",
        "guardrail-reaction",
      ]),
    );
    const watched = new Set([...rules.matchAll(/^\s+slo: ([a-z-]+)$/gm)].map((m) => m[1]!));
    expect(objectives.filter((o) => !watched.has(o))).toEqual([]);
    expect([...watched].filter((w) => !objectives.includes(w))).toEqual([]);
  });
});
