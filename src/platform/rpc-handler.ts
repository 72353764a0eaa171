/**
 * The Node request handler for every RPC route, built on connect-node's
 * universal request/response conversion. It differs from connect-node's own
 * adapter in one respect: a response that cannot be written because the
 * client went away (a browser navigating off a page, a closed stream) is
 * expected, not a failure, so it is logged at debug level through pino; any
 * other failure to answer is logged as an error with the route. The adapter
 * prints both to stderr with console.error instead.
 */
import {
  Code,
  ConnectError,
  createConnectRouter,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
} from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "./logging.js";
import { isClientGoneError } from "./errors.js";

type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

export interface RpcHandlerOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  /** Answers paths that are no RPC route. */
  fallback: NodeHandler;
  contextValues?: (req: NodeRequest) => ContextValues;
  logger: Logger;
}

/** True when writing failed because the other side is gone. */
export function isClientGone(error: unknown, res: { destroyed: boolean }): boolean {
  return res.destroyed || isClientGoneError(error, true);
}

export function createRpcHandler(options: RpcHandlerOptions): NodeHandler {
  const { routes, fallback, contextValues, logger, ...routerOptions } = options;
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...routerOptions,
  });
  routes(router);
  const byPath = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req: NodeRequest, res: NodeResponse) => {
    const handler = byPath.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (handler === undefined) {
      fallback(req, res);
      return;
    }
    const request = universalRequestFromNodeRequest(req, res, undefined, contextValues?.(req));
    handler(request)
      .then((response) => universalResponseToNodeResponse(response, res))
      .catch((reason: unknown) => {
        const route = { service: handler.service.typeName, method: handler.method.name };
        const code = ConnectError.from(reason).code;
        if (code === Code.Aborted || code === Code.Canceled || isClientGone(reason, res)) {
          logger.debug({ ...route, err: reason }, "client went away before the answer was sent");
          return;
        }
        logger.error({ ...route, err: reason }, "could not answer an RPC");
      });
  };
}
