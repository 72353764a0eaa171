/**
 * The paging contract every List RPC shares (src/platform/paging.ts), checked
 * once over each of them: page_size 0 means the default of 50, 1–500 are
 * taken as given, anything else is INVALID_ARGUMENT naming page_size; a
 * page_token the RPC did not issue is INVALID_ARGUMENT naming page_token; and
 * paging through the list in small pages returns every item exactly once, in
 * the order of one big page. Module tests keep what is specific to a list
 * (filters, sort order, which items are shown).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { CatalogService, MetricKind } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { ExperimentService } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagService } from "../../gen/lotty/flags/v1/flags_pb.js";
import { GuardrailService } from "../../gen/lotty/guardrails/v1/guardrails_pb.js";
import {
  ChannelKind,
  NotificationService,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import { PrivacyService } from "../../gen/lotty/privacy/v1/privacy_pb.js";
import {
  EventExportFormat,
  EventExportService,
} from "../../gen/lotty/reports/v1/event_export_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import {
  makeFlag,
  makeTeam,
  makeUser,
  uniqueKey,
  validExperiment,
  type Team,
} from "../support/builders.js";
import { errorOf } from "../experiments/support.js";

interface PageRequest {
  pageSize?: number;
  pageToken?: string;
}

interface Page {
  ids: string[];
  nextPageToken: string;
}

interface ListCase {
  rpc: string;
  list(request: PageRequest): Promise<Page>;
  /** Adds SEEDED items to the list; absent when items only come from elsewhere (see below). */
  seed?(): Promise<void>;
}

/** Items each seeded list gets, so pages of PAGE_SIZE are full, full and partial. */
const SEEDED = 5;
const PAGE_SIZE = 2;

let t: TestApp;
let team: Team;
/** The experiment whose event exports ListEventExports lists. */
let exportedExperimentId = "";

const cases: ListCase[] = [
  {
    rpc: "ListUsers",
    list: async (r) => {
      const page = await client(AccessService, t.baseUrl, t.adminKey).listUsers(r);
      return { ids: page.users.map((u) => u.id), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      for (let i = 0; i < SEEDED; i++) await makeUser(t, Role.VIEWER);
    },
  },
  {
    rpc: "ListFlags",
    list: async (r) => {
      const page = await client(FlagService, t.baseUrl, t.adminKey).listFlags(r);
      return { ids: page.flags.map((f) => f.key), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      for (let i = 0; i < SEEDED; i++) await makeFlag(t);
    },
  },
  {
    rpc: "ListExperiments",
    list: async (r) => {
      const page = await client(ExperimentService, t.baseUrl, t.adminKey).listExperiments(r);
      return { ids: page.experiments.map((e) => e.id), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      for (let i = 0; i < SEEDED; i++) {
        await team.owner.experiments.createExperiment({
          experiment: validExperiment(await makeFlag(t)),
        });
      }
    },
  },
  {
    rpc: "ListEventTypes",
    list: async (r) => {
      const page = await client(CatalogService, t.baseUrl, t.adminKey).listEventTypes(r);
      return { ids: page.eventTypes.map((e) => e.key), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      const catalog = client(CatalogService, t.baseUrl, t.adminKey);
      for (let i = 0; i < SEEDED; i++) {
        await catalog.createEventType({
          eventType: { key: uniqueKey("et"), name: "Paged", properties: [] },
        });
      }
    },
  },
  {
    rpc: "ListMetrics",
    list: async (r) => {
      const page = await client(CatalogService, t.baseUrl, t.adminKey).listMetrics(r);
      return { ids: page.metrics.map((m) => m.key), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      const catalog = client(CatalogService, t.baseUrl, t.adminKey);
      for (let i = 0; i < SEEDED; i++) {
        await catalog.createMetric({
          metric: {
            key: uniqueKey("m"),
            name: "Paged",
            kind: MetricKind.COUNT,
            eventTypeKey: "conversion",
          },
        });
      }
    },
  },
  {
    rpc: "ListChannels",
    list: async (r) => {
      const page = await client(NotificationService, t.baseUrl, t.adminKey).listChannels(r);
      return { ids: page.channels.map((c) => c.id), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      const notifications = client(NotificationService, t.baseUrl, t.adminKey);
      for (let i = 0; i < SEEDED; i++) {
        await notifications.createChannel({
          channel: { name: `paged ${i}`, kind: ChannelKind.WEBHOOK, url: "http://127.0.0.1:9/" },
        });
      }
    },
  },
  {
    rpc: "ListRules",
    list: async (r) => {
      const page = await client(NotificationService, t.baseUrl, t.adminKey).listRules(r);
      return { ids: page.rules.map((x) => x.id), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      const notifications = client(NotificationService, t.baseUrl, t.adminKey);
      const { channel } = await notifications.createChannel({
        channel: { name: "rules", kind: ChannelKind.WEBHOOK, url: "http://127.0.0.1:9/" },
      });
      const flagKey = await makeFlag(t);
      for (let i = 0; i < SEEDED; i++) {
        await notifications.createRule({
          rule: {
            name: `paged ${i}`,
            triggers: ["experiment.paused"],
            flagKey,
            channelIds: [channel!.id],
          },
        });
      }
    },
  },
  {
    rpc: "ListErasures",
    list: async (r) => {
      const page = await client(PrivacyService, t.baseUrl, t.adminKey).listErasures(r);
      return { ids: page.erasures.map((x) => x.id), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      const privacy = client(PrivacyService, t.baseUrl, t.adminKey);
      for (let i = 0; i < SEEDED; i++) {
        await privacy.eraseSubjects({ subjectIds: [`paged-${i}`], reason: "paging" });
      }
    },
  },
  {
    rpc: "ListEventExports",
    list: async (r) => {
      const page = await client(EventExportService, t.baseUrl, t.adminKey).listEventExports({
        ...r,
        experimentId: exportedExperimentId,
      });
      return { ids: page.eventExports.map((x) => x.id), nextPageToken: page.nextPageToken };
    },
    seed: async () => {
      const { experiment } = await team.owner.experiments.createExperiment({
        experiment: validExperiment(await makeFlag(t)),
      });
      exportedExperimentId = experiment!.id;
      const exports = client(EventExportService, t.baseUrl, t.adminKey);
      for (let i = 0; i < SEEDED; i++) {
        await exports.startEventExport({
          experimentId: exportedExperimentId,
          format: EventExportFormat.CSV,
        });
      }
    },
  },
  // Triggers and deliveries are made by the guardrail monitor and the
  // notifier, not by an RPC: here the list is empty and only the bounds and
  // the token are exercised; paging over real ones is in
  // test/guardrails/guardrail.test.ts and test/notifications/notifications.test.ts.
  {
    rpc: "ListGuardrailTriggers",
    list: async (r) => {
      const page = await client(GuardrailService, t.baseUrl, t.adminKey).listGuardrailTriggers(r);
      return { ids: page.triggers.map((x) => x.id), nextPageToken: page.nextPageToken };
    },
  },
  {
    rpc: "ListDeliveries",
    list: async (r) => {
      const page = await client(NotificationService, t.baseUrl, t.adminKey).listDeliveries(r);
      return { ids: page.deliveries.map((x) => x.id), nextPageToken: page.nextPageToken };
    },
  },
];

/** Tokens no List RPC issues: not base64url JSON, JSON without the sort key, a NUL smuggled in. */
const FOREIGN_TOKENS = [
  "not-a-token",
  Buffer.from(JSON.stringify({ b: "x" }), "utf8").toString("base64url"),
  Buffer.from(JSON.stringify({ a: "x\u0000" }), "utf8").toString("base64url"),
];

beforeAll(async () => {
  t = await startTestApp();
  team = await makeTeam(t);
  for (const c of cases) await c.seed?.();
});

afterAll(async () => {
  await t?.stop();
});

describe.each(cases)("$rpc", (c) => {
  it("rejects a page_size over 500 or below 0, naming page_size", async () => {
    for (const pageSize of [501, -1]) {
      const e = await errorOf(c.list({ pageSize }));
      expect([Code[e.code], e.rawMessage.split(":")[0]]).toEqual(["InvalidArgument", "page_size"]);
    }
  });

  it("rejects a page_token it did not issue, naming page_token", async () => {
    for (const pageToken of FOREIGN_TOKENS) {
      const e = await errorOf(c.list({ pageToken }));
      expect([Code[e.code], e.rawMessage.split(":")[0]]).toEqual(["InvalidArgument", "page_token"]);
    }
  });

  it("takes page_size 0 as the default of 50 and 500 as given", async () => {
    const all = await c.list({ pageSize: 500 });
    expect(all.nextPageToken).toBe("");
    if (c.seed !== undefined) expect(all.ids.length).toBeGreaterThanOrEqual(SEEDED);
    const first = await c.list({ pageSize: 0 });
    expect(first.ids).toEqual(all.ids.slice(0, 50));
    expect(first.nextPageToken === "").toBe(all.ids.length <= 50);
    expect(await c.list({})).toEqual(first);
  });

  it(`returns every item once in pages of ${PAGE_SIZE}`, async () => {
    const all = await c.list({ pageSize: 500 });
    const seen: string[] = [];
    const sizes: number[] = [];
    let pageToken = "";
    do {
      const page = await c.list({ pageSize: PAGE_SIZE, pageToken });
      seen.push(...page.ids);
      sizes.push(page.ids.length);
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && sizes.length <= all.ids.length);
    expect(seen).toEqual(all.ids);
    expect(new Set(seen).size).toBe(seen.length);
    expect(sizes.slice(0, -1).every((n) => n === PAGE_SIZE)).toBe(true);
  });
});
