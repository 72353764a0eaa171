/**
 * HTTP/2 sessions of the one-port server (src/platform/http-server.ts) are
 * released once closed: Node leaves a destroyed session's idle timer
 * running (5 minutes), which held the session, the server and its handler;
 * OnePortServer clears it before destroy. Checked in a child process with
 * --expose-gc (the compiled module from dist/, built by the global setup):
 * a WeakRef to the session must be empty after garbage collection, for a
 * client that closes and for a server that closes with a session open.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "@jest/globals";

const SERVER = pathToFileURL(path.resolve("dist", "src", "platform", "http-server.js")).href;

const script = `
import http2 from "node:http2";
import { OnePortServer, DEFAULT_LIMITS } from ${JSON.stringify(SERVER)};

async function sessionAfter(closing) {
  const server = new OnePortServer((req, res) => res.end("ok"), DEFAULT_LIMITS);
  let ref;
  server.h2.once("session", (session) => (ref = new WeakRef(session)));
  const port = await server.listen(0, "127.0.0.1");
  const client = http2.connect("http://127.0.0.1:" + port);
  await new Promise((resolve, reject) => {
    const request = client.request({ ":path": "/" });
    request.on("error", reject).resume().on("end", resolve);
    request.end();
  });
  if (closing === "client") {
    client.close();
    await new Promise((resolve) => client.once("close", resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.close(100);
  } else {
    await server.close(100);
    client.destroy();
  }
  for (let i = 0; i < 5; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return ref?.deref() === undefined ? "released" : "held";
}

console.log(JSON.stringify({ client: await sessionAfter("client"), server: await sessionAfter("server") }));
`;

describe("HTTP/2 sessions", () => {
  it("are released once closed, by the client or by the server", () => {
    const out = execFileSync(
      process.execPath,
      ["--expose-gc", "--input-type=module", "-e", script],
      { encoding: "utf8", timeout: 30_000 },
    );
    expect(JSON.parse(out.trim().split("\n").at(-1)!)).toEqual({
      client: "released",
      server: "released",
    });
  });
});
