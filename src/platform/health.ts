/**
 * grpc.health.v1.Health, the standard gRPC health protocol used by Kubernetes
 * gRPC probes, grpc_health_probe, Envoy and load balancers.
 *
 * Lotty reports one status for the whole server: every known service, and the
 * empty name that stands for the server, is SERVING exactly when `isServing`
 * says so.
 */
import { setTimeout as delay } from "node:timers/promises";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { registeredServiceNames } from "./reflection.js";

export interface HealthOptions {
  /**
   * Service names that have a status besides "" (the whole server), evaluated
   * on every request. Defaults to every service registered on the router the
   * routes are added to.
   */
  serviceNames?: () => readonly string[];
  /** How often Watch re-evaluates `isServing`, in milliseconds. Default 1000. */
  watchIntervalMs?: number;
}

/**
 * Routes serving grpc.health.v1.Health.
 *
 * `isServing` is asked on every Check and List and on every Watch tick; a
 * rejected promise or a thrown error counts as NOT_SERVING.
 *
 * - Check: "" or a known service → SERVING / NOT_SERVING; an unknown service
 *   fails with NOT_FOUND.
 * - Watch: sends the current status at once and again whenever it changes,
 *   until the client goes away. An unknown service is reported as
 *   SERVICE_UNKNOWN without ending the stream, as the protocol requires.
 * - List: the status of "" and of every known service.
 */
export function healthRoutes(
  isServing: () => boolean | Promise<boolean>,
  options: HealthOptions = {},
): (router: ConnectRouter) => void {
  const watchIntervalMs = options.watchIntervalMs ?? 1000;
  return (router) => {
    const serviceNames = options.serviceNames ?? (() => registeredServiceNames(router));
    const isKnown = (service: string): boolean =>
      service === "" || serviceNames().includes(service);
    const serverStatus = async (): Promise<ServingStatus> => {
      try {
        return (await isServing()) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
      } catch {
        return ServingStatus.NOT_SERVING;
      }
    };

    router.service(Health, {
      async check({ service }) {
        if (!isKnown(service)) {
          throw new ConnectError(`unknown service: ${service}`, Code.NotFound);
        }
        return { status: await serverStatus() };
      },

      async *watch({ service }, context) {
        let sent: ServingStatus | undefined;
        while (!context.signal.aborted) {
          const status = isKnown(service) ? await serverStatus() : ServingStatus.SERVICE_UNKNOWN;
          if (status !== sent) {
            yield { status };
            sent = status;
          }
          try {
            await delay(watchIntervalMs, undefined, { signal: context.signal });
          } catch {
            return; // aborted: the client went away or the deadline passed
          }
        }
      },

      async list() {
        const status = await serverStatus();
        const statuses: Record<string, { status: ServingStatus }> = { "": { status } };
        for (const name of serviceNames()) statuses[name] = { status };
        return { statuses };
      },
    });
  };
}
