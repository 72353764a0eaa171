/** Values every handler can read from its HandlerContext. */
import { createContextKey } from "@connectrpc/connect";
import type { Role } from "../../gen/lotty/access/v1/access_pb.js";
import type { Logger } from "./logging.js";

/** The authenticated caller (auth.ts verifies the API key and sets it). */
export interface Principal {
  userId: string;
  email: string;
  apiKeyId: string;
  roles: ReadonlySet<Role>;
}

/** The request id: the client's `x-request-id` when well-formed, else a new UUID. */
export const requestIdKey = createContextKey<string>("", { description: "request id" });
/** A pino child logger carrying reqId, service and method. */
export const loggerKey = createContextKey<Logger | undefined>(undefined, {
  description: "request logger",
});
/** The authenticated caller; undefined only for health and reflection. */
export const principalKey = createContextKey<Principal | undefined>(undefined, {
  description: "authenticated caller",
});
