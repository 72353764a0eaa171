/**
 * The run's state and small helpers: find-or-create, polling, bounded
 * concurrency and a seeded random generator.
 */
import { Code, ConnectError, type LottyClient } from "../../../clients/node/src/index.js";
import { sleep } from "../../platform/timing.js";
import { ExperimentStatus } from "./proto.js";
import type { Handle } from "./tenant.js";

export interface Run {
  baseUrl: string;
  admin: LottyClient;
  log: (line: string) => void;
  created: string[];
  reused: string[];
  userIds: Map<Handle, string>;
  /** Keys of the users this run created (their personal keys). */
  personalKeys: Map<Handle, string>;
  /** Clients acting as users, made on first use. */
  clients: Map<Handle, LottyClient>;
  /** Ids of this run's temporary keys, revoked at the end. */
  runKeys: string[];
}

function codeOf(error: unknown): Code {
  return ConnectError.from(error).code;
}

/** The call's result, or undefined when it fails with NOT_FOUND. */
export async function unlessNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (codeOf(error) === Code.NotFound) return undefined;
    throw error;
  }
}

/**
 * Finds a thing or creates it. A create that loses a race with another run
 * (ALREADY_EXISTS) finds the winner's.
 */
export async function findOrCreate<T>(
  run: Run,
  label: string,
  find: () => Promise<T | undefined>,
  create: () => Promise<T>,
): Promise<{ value: T; created: boolean }> {
  const found = await find();
  if (found !== undefined) {
    run.reused.push(label);
    return { value: found, created: false };
  }
  try {
    const value = await create();
    run.created.push(label);
    run.log(`  created ${label}`);
    return { value, created: true };
  } catch (error) {
    if (codeOf(error) !== Code.AlreadyExists) throw error;
    const again = await find();
    if (again === undefined) throw error;
    run.reused.push(label);
    return { value: again, created: false };
  }
}

export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the server answered without ${what}`);
  return value;
}

/** Polls `check` until it returns a value or `timeoutMs` passes (then undefined). */
export async function poll<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() >= deadline) return value;
    await sleep(intervalMs);
  }
}

/** Runs `work` for every item, at most `limit` at a time. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A deterministic generator of numbers in [0, 1), seeded by a string (FNV-1a, mulberry32). */
export function seeded(seed: string): () => number {
  let state = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 0x01000193);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One of the keys, with probabilities in proportion to the weights. */
export function pick(random: () => number, weights: Record<string, number>): string {
  const entries = Object.entries(weights);
  let r = random() * entries.reduce((sum, [, w]) => sum + w, 0);
  for (const [value, w] of entries) {
    r -= w;
    if (r < 0) return value;
  }
  return entries[entries.length - 1]![0];
}

export const between = (random: () => number, low: number, high: number) =>
  Math.round(low + random() * (high - low));

export const percent = (x: number) => `${(x * 100).toFixed(1)} %`;
export const statusName = (status: ExperimentStatus) => ExperimentStatus[status] ?? String(status);
