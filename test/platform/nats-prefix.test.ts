/**
 * LOTTY_NATS_PREFIX: two deployments on one NATS server keep apart when
 * their prefixes differ (streams `<PREFIX>_…`, subjects `<prefix>.…`).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "@jest/globals";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startTestApp, type TestApp } from "../support/app.js";
import { TEST_NATS_URL } from "../support/env.js";

const prefix = `N${randomBytes(5).toString("hex")}`;
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ env: { LOTTY_NATS_PREFIX: prefix } });
});

afterAll(async () => {
  await t.stop();
});

it("names the deployment's streams and subjects after LOTTY_NATS_PREFIX", async () => {
  expect(t.config.natsPrefix).toBe(prefix.toUpperCase());
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const events = await jsm.streams.info(`${prefix.toUpperCase()}_EVENTS`);
    expect(events.config.subjects).toEqual([`${prefix.toLowerCase()}.events.>`]);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${prefix.toUpperCase()}_`)) names.push(name);
    }
    expect(names).toEqual(expect.arrayContaining([`${prefix.toUpperCase()}_LIFECYCLE`]));
  } finally {
    await nc.close();
  }
});
