/**
 * Report files (src/reports/export.ts): the CSV layout promised by
 * proto/lotty/reports/v1/reports.proto (ExportFormat CSV), RFC 4180
 * quoting, the proto3 JSON form and the file names.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "@jest/globals";
import { create, equals, fromJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventErrorCode } from "../../gen/lotty/events/v1/events_pb.js";
import { ReportSchema, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { CSV_COLUMNS, reportCsv, reportFilename, reportJson } from "../../src/reports/export.js";

const FROM = Date.UTC(2026, 10, 22, 18, 30, 0); // 2026-11-22T18:30:00Z
const TO = Date.UTC(2026, 10, 23, 0, 0, 0); // 2026-11-23T00:00:00Z

/** The CSV columns as the proto documents them (ExportFormat.EXPORT_FORMAT_CSV comment). */
function protoColumns(): string[] {
  const proto = readFileSync("proto/lotty/reports/v1/reports.proto", "utf8");
  const comment = /\/\/ CSV \(RFC 4180[\s\S]*?EXPORT_FORMAT_CSV = 1;/.exec(proto)?.[0];
  expect(comment).toBeDefined();
  const text = (comment ?? "")
    .split("\n")
    .map((line) => line.replace(/^\s*\/\/\s?/, ""))
    .join(" ");
  const list = /columns: (.*?) \(comparison columns/.exec(text)?.[1];
  expect(list).toBeDefined();
  return (list ?? "").split(",").map((c) => c.trim());
}

/** A minimal RFC 4180 parser: records of fields, CRLF record separators. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (ch === '"') {
        quoted = false;
        i += 1;
      } else {
        field += ch;
        i += 1;
      }
    } else if (ch === '"') {
      if (field !== "") throw new Error(`quote inside an unquoted field at ${String(i)}`);
      quoted = true;
      i += 1;
    } else if (ch === ",") {
      record.push(field);
      field = "";
      i += 1;
    } else if (ch === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i += 2;
    } else if (ch === "\r" || ch === "\n") {
      throw new Error(`bare line break outside quotes at ${String(i)}`);
    } else {
      field += ch;
      i += 1;
    }
  }
  if (quoted) throw new Error("unterminated quoted field");
  if (field !== "" || record.length > 0) throw new Error("last record without CRLF");
  return records;
}

function sampleReport(): Report {
  return create(ReportSchema, {
    experimentId: "0f8b5c1e-2d4a-4e55-9a1b-3c2d1e0f9a8b",
    from: timestampFromMs(FROM),
    to: timestampFromMs(TO),
    exposures: 2500,
    subjects: 2000,
    primaryMetricKey: "checkout",
    experimentVersion: 4,
    generatedAt: timestampFromMs(TO + 5_000),
    bucketSeconds: 900,
    correction: "holm",
    variants: [
      {
        variantKey: "control",
        control: true,
        exposures: 1300,
        subjects: 1000,
        weight: 50,
        metrics: [
          { metricKey: "checkout", value: 0.1, sampleSize: 1000 },
          { metricKey: "clicks", value: 2000, sampleSize: 1000 },
        ],
      },
      {
        variantKey: "treatment",
        control: false,
        exposures: 1200,
        subjects: 1000,
        weight: 50,
        metrics: [
          {
            metricKey: "checkout",
            value: 0.13,
            sampleSize: 1000,
            comparison: {
              absoluteDiff: 0.03,
              relativeDiff: 0.3,
              ciLow: 0.0025,
              ciHigh: 0.0575,
              pValue: 0.0355,
              significant: true,
              adjustedPValue: 0.071,
              adjustedSignificant: false,
              sequentialCiLow: -0.02,
              sequentialCiHigh: 0.08,
              chanceToBeatControl: 0.982,
            },
          },
          {
            metricKey: "clicks",
            value: 1900,
            sampleSize: 1000,
            comparison: {
              absoluteDiff: -0.1,
              relativeDiff: -0.05,
              ciLow: -0.25,
              ciHigh: 0.05,
              pValue: 0.2,
              significant: false,
              adjustedPValue: 0.2,
              adjustedSignificant: false,
              sequentialCiLow: -0.5,
              sequentialCiHigh: 0.3,
              chanceToBeatControl: 0.1,
            },
          },
        ],
      },
    ],
    srm: { pValue: 1, mismatch: false, chiSquare: 0 },
    dataHealth: {
      receivedEvents: 100,
      rejectedEvents: 3,
      rejectedShare: 0.03,
      topRejectionReasons: [{ code: EventErrorCode.UNKNOWN_EVENT_TYPE, count: 3 }],
      duplicateEvents: 1,
      duplicateShare: 0.01,
      pendingAttributionEvents: 2,
      traffic: [
        { variantKey: "control", expectedShare: 0.5, observedShare: 0.5 },
        { variantKey: "treatment", expectedShare: 0.5, observedShare: 0.5 },
      ],
    },
    series: [
      {
        metricKey: "checkout",
        variantKey: "control",
        points: [
          {
            start: timestampFromMs(FROM),
            end: timestampFromMs(TO),
            value: 0.1,
            sampleSize: 1000,
          },
        ],
      },
    ],
    metrics: [
      { metricKey: "checkout", value: 0.115, sampleSize: 2000 },
      { metricKey: "clicks", value: 3900, sampleSize: 2000 },
    ],
  });
}

describe("reportCsv layout", () => {
  it("exports exactly the columns the proto documents, in its order", () => {
    const columns = protoColumns();
    expect(columns).toHaveLength(17);
    expect([...CSV_COLUMNS]).toEqual(columns);
    const [header] = parseCsv(reportCsv(sampleReport()));
    expect(header).toEqual(columns);
  });

  it("writes the header line verbatim", () => {
    const csv = reportCsv(sampleReport());
    expect(csv.slice(0, csv.indexOf("\r\n"))).toBe(
      "variant_key,control,exposures,subjects,metric_key,value,sample_size,absolute_diff," +
        "relative_diff,ci_low,ci_high,p_value,significant,adjusted_p_value," +
        "sequential_ci_low,sequential_ci_high,chance_to_beat_control",
    );
  });

  it("writes one row per variant × metric, in variant then metric order", () => {
    const records = parseCsv(reportCsv(sampleReport()));
    expect(records).toHaveLength(1 + 2 * 2);
    expect(records.slice(1).map((r) => [r[0], r[4]])).toEqual([
      ["control", "checkout"],
      ["control", "clicks"],
      ["treatment", "checkout"],
      ["treatment", "clicks"],
    ]);
    for (const r of records) expect(r).toHaveLength(17);
  });

  it("leaves the comparison columns empty on control rows", () => {
    const csv = reportCsv(sampleReport());
    const lines = csv.split("\r\n");
    expect(lines[1]).toBe("control,true,1300,1000,checkout,0.1,1000,,,,,,,,,,");
    expect(lines[2]).toBe("control,true,1300,1000,clicks,2000,1000,,,,,,,,,,");
  });

  it("fills the comparison columns of a treatment row in header order", () => {
    const lines = reportCsv(sampleReport()).split("\r\n");
    expect(lines[3]).toBe(
      "treatment,false,1200,1000,checkout,0.13,1000," +
        // absolute, relative, ci_low, ci_high, p, significant, adjusted p,
        "0.03,0.3,0.0025,0.0575,0.0355,true,0.071," +
        // sequential low, sequential high, chance to beat control
        "-0.02,0.08,0.982",
    );
    const record = parseCsv(reportCsv(sampleReport()))[4];
    const row = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, record?.[i]]));
    expect(row).toEqual({
      variant_key: "treatment",
      control: "false",
      exposures: "1200",
      subjects: "1000",
      metric_key: "clicks",
      value: "1900",
      sample_size: "1000",
      absolute_diff: "-0.1",
      relative_diff: "-0.05",
      ci_low: "-0.25",
      ci_high: "0.05",
      p_value: "0.2",
      significant: "false",
      adjusted_p_value: "0.2",
      sequential_ci_low: "-0.5",
      sequential_ci_high: "0.3",
      chance_to_beat_control: "0.1",
    });
  });

  it("leaves a non-control row's comparison columns empty when it has no comparison", () => {
    const report = sampleReport();
    const metric = report.variants[1]?.metrics[0];
    if (metric === undefined) throw new Error("fixture");
    metric.comparison = undefined;
    const lines = reportCsv(report).split("\r\n");
    expect(lines[3]).toBe("treatment,false,1200,1000,checkout,0.13,1000,,,,,,,,,,");
  });

  it("ends every line, the last included, with CRLF and has no bare LF", () => {
    const csv = reportCsv(sampleReport());
    expect(csv.endsWith("\r\n")).toBe(true);
    expect(csv.split("\r\n")).toHaveLength(1 + 4 + 1); // header, 4 rows, "" after the last CRLF
    expect(csv.replaceAll("\r\n", "")).not.toMatch(/[\r\n]/);
  });

  it("is only the header for a report without variants", () => {
    const csv = reportCsv(create(ReportSchema, { experimentId: "x" }));
    expect(csv).toBe(`${CSV_COLUMNS.join(",")}\r\n`);
  });
});

describe("reportCsv quoting (RFC 4180)", () => {
  function quotedReport(variantKey: string, metricKey: string): Report {
    return create(ReportSchema, {
      experimentId: "e",
      variants: [
        {
          variantKey,
          control: true,
          exposures: 1,
          subjects: 1,
          metrics: [{ metricKey, value: 1, sampleSize: 1 }],
        },
      ],
    });
  }

  it("quotes a key with a comma", () => {
    const lines = reportCsv(quotedReport("a,b", "m")).split("\r\n");
    expect(lines[1]).toBe('"a,b",true,1,1,m,1,1,,,,,,,,,,');
  });

  it("quotes a key with a double quote and doubles the quote", () => {
    const lines = reportCsv(quotedReport("v", 'say "hi"')).split("\r\n");
    expect(lines[1]).toBe('v,true,1,1,"say ""hi""",1,1,,,,,,,,,,');
  });

  it("quotes a key with a line break", () => {
    const csv = reportCsv(quotedReport("two\r\nlines", "lf\nonly"));
    expect(csv).toContain('"two\r\nlines",true,1,1,"lf\nonly",1,1,');
  });

  it("round-trips awkward keys through an RFC 4180 parser", () => {
    const keys = ["a,b", 'q"uote', '"', ",", 'mix, "all"\r\nof it', " spaced ", ""];
    for (const key of keys) {
      const records = parseCsv(reportCsv(quotedReport(key, `${key}!`)));
      expect(records).toHaveLength(2);
      expect(records[1]?.[0]).toBe(key);
      expect(records[1]?.[4]).toBe(`${key}!`);
      expect(records[1]).toHaveLength(17);
    }
  });

  it("does not quote plain keys", () => {
    const lines = reportCsv(quotedReport("control_v2", "revenue.per-user")).split("\r\n");
    expect(lines[1]?.startsWith("control_v2,true,1,1,revenue.per-user,")).toBe(true);
  });
});

describe("reportJson", () => {
  it("round-trips through fromJsonString(ReportSchema, …)", () => {
    const report = sampleReport();
    const back = fromJsonString(ReportSchema, reportJson(report));
    expect(equals(ReportSchema, back, report)).toBe(true);
    expect(back.variants[1]?.metrics[0]?.comparison?.pValue).toBe(0.0355);
    expect(back.dataHealth?.topRejectionReasons[0]?.code).toBe(EventErrorCode.UNKNOWN_EVENT_TYPE);
  });

  it("is the proto3 JSON form (camelCase names, RFC 3339 times, enum names)", () => {
    const json = JSON.parse(reportJson(sampleReport())) as Record<string, unknown>;
    expect(json["experimentId"]).toBe("0f8b5c1e-2d4a-4e55-9a1b-3c2d1e0f9a8b");
    expect(json["from"]).toBe("2026-11-22T18:30:00Z");
    expect(json["to"]).toBe("2026-11-23T00:00:00Z");
    expect(json["primaryMetricKey"]).toBe("checkout");
    expect(json["correction"]).toBe("holm");
    const health = json["dataHealth"] as { topRejectionReasons: { code: string }[] };
    expect(health.topRejectionReasons[0]?.code).toBe("EVENT_ERROR_CODE_UNKNOWN_EVENT_TYPE");
  });

  it("is pretty-printed with two spaces", () => {
    const text = reportJson(sampleReport());
    expect(text.startsWith('{\n  "experimentId": ')).toBe(true);
  });

  it("round-trips an empty report", () => {
    const empty = create(ReportSchema, {});
    expect(equals(ReportSchema, fromJsonString(ReportSchema, reportJson(empty)), empty)).toBe(true);
  });
});

describe("reportFilename", () => {
  it("is report-<id>-<from>-<to>.<extension> with compact UTC times", () => {
    const report = sampleReport();
    expect(reportFilename(report, "csv")).toBe(
      "report-0f8b5c1e-2d4a-4e55-9a1b-3c2d1e0f9a8b-20261122T183000Z-20261123T000000Z.csv",
    );
    expect(reportFilename(report, "json")).toBe(
      "report-0f8b5c1e-2d4a-4e55-9a1b-3c2d1e0f9a8b-20261122T183000Z-20261123T000000Z.json",
    );
  });

  it("drops milliseconds", () => {
    const report = create(ReportSchema, {
      experimentId: "e1",
      from: timestampFromMs(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
      to: timestampFromMs(Date.UTC(2026, 11, 31, 23, 59, 59, 999)),
    });
    expect(reportFilename(report, "csv")).toBe("report-e1-20260102T030405Z-20261231T235959Z.csv");
  });

  it("uses the epoch for missing window bounds", () => {
    expect(reportFilename(create(ReportSchema, { experimentId: "e2" }), "json")).toBe(
      "report-e2-19700101T000000Z-19700101T000000Z.json",
    );
  });

  it("contains no characters unsafe in file names", () => {
    expect(reportFilename(sampleReport(), "csv")).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});
