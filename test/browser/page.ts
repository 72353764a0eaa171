/// <reference lib="dom" />
/**
 * The browser side of the Connect-Web test: bundled by esbuild and loaded
 * in headless Chromium. It reads where to call from the page's query string,
 * calls Decide over Connect (JSON) and gRPC-Web, and leaves the outcome in
 * `window.lottyResult` and the page's text.
 */
import { createClient, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { toJson } from "@bufbuild/protobuf";
import { DecideResponseSchema, DecisionService } from "../../gen/lotty/decision/v1/decision_pb.js";

const params = new URLSearchParams(location.search);
const baseUrl = params.get("baseUrl") ?? "";
const apiKey = params.get("apiKey") ?? "";
const request = { subjectId: params.get("subject") ?? "", flagKeys: [params.get("flag") ?? ""] };
const headers = { authorization: `Bearer ${apiKey}` };

async function decideOver(kind: "connect" | "grpc-web") {
  const transport =
    kind === "connect" ? createConnectTransport({ baseUrl }) : createGrpcWebTransport({ baseUrl });
  try {
    const response = await createClient(DecisionService, transport).decide(request, { headers });
    return { ok: true, response: toJson(DecideResponseSchema, response) };
  } catch (error) {
    const e = ConnectError.from(error);
    return { ok: false, code: e.code, message: e.rawMessage };
  }
}

const result = { connect: await decideOver("connect"), grpcWeb: await decideOver("grpc-web") };
(window as unknown as { lottyResult: unknown }).lottyResult = result;
document.body.textContent = JSON.stringify(result);
