/**
 * lotty.decision.v1.DecisionService: Decide answers from the in-memory
 * snapshot only (no database or network call per request), through the
 * server's decide (decide.ts → the Decider in core/); the participation
 * policy RPCs are read and written through the database
 * (policy-service.ts).
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  fromJson,
  type JsonObject,
  type JsonValue,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type {
  Decision,
  DecisionSchema,
  DecisionService,
  GetConfigurationRequest,
  WatchConfigurationRequest,
} from "../../gen/lotty/decision/v1/decision_pb.js";
import type { ServerDecide } from "./decide.js";
import type { ParticipationPolicyService } from "./policy-service.js";
import type { ConfigurationSync } from "./sync.js";
import { requirePrincipal } from "../platform/auth.js";

export { DECIDE_LIMITS } from "./decide.js";
export { REASON_NAMES, type PlainDecision } from "./core/index.js";

type DecisionInit = MessageInitShape<typeof DecisionSchema>;

export class DecisionServiceImpl implements ServiceImpl<typeof DecisionService> {
  private readonly serve: ServerDecide;
  private readonly policy: ParticipationPolicyService;
  private readonly sync: ConfigurationSync;
  private readonly limit: (apiKeyId: string) => void;

  constructor(deps: {
    decide: ServerDecide;
    policy: ParticipationPolicyService;
    sync: ConfigurationSync;
    /** The per-key Decide rate limit (decide-limit.ts); none when omitted. */
    limit?: (apiKeyId: string) => void;
  }) {
    this.serve = deps.decide;
    this.limit = deps.limit ?? (() => {});
    this.policy = deps.policy;
    this.sync = deps.sync;
  }

  decide(
    req: { subjectId: string; attributes?: JsonObject; flagKeys: string[] },
    ctx?: HandlerContext,
  ) {
    // After the auth interceptor, as on the fast path and OFREP. In-process
    // callers (no context) have no key to limit.
    if (ctx !== undefined) this.limit(requirePrincipal(ctx).apiKeyId);
    const decisions = this.serve(req).map(({ hasValue, value, ...rest }): DecisionInit => ({
      ...rest,
      ...(hasValue ? { value: fromJson(ValueSchema, (value ?? null) as JsonValue) } : {}),
    }));
    return { decisions };
  }

  getParticipationPolicy() {
    return this.policy.getParticipationPolicy();
  }

  setParticipationPolicy(
    req: { maxConcurrentExperiments: number; cooldownSeconds: number },
    ctx: HandlerContext,
  ) {
    return this.policy.setParticipationPolicy(req, ctx);
  }

  getConfiguration(req: GetConfigurationRequest, ctx: HandlerContext) {
    return this.sync.getConfiguration(req, ctx);
  }

  watchConfiguration(req: WatchConfigurationRequest, ctx: HandlerContext) {
    return this.sync.watchConfiguration(req, ctx);
  }
}

export type { Decision };
