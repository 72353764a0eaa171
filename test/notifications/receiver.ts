/** A local HTTP receiver for notification tests: records every request, answers as scripted. */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  /** The status the receiver answered. */
  status: number;
}

export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly scripts = new Map<string, number[]>();
  private readonly delays = new Map<string, number>();
  private server: http.Server | undefined;
  url = "";

  /** Answers the next requests to `path` with these statuses, then 200. */
  script(path: string, ...statuses: number[]): void {
    this.scripts.set(path, statuses);
  }

  /** Answers requests to `path` only after `ms`. */
  delay(path: string, ms: number): void {
    this.delays.set(path, ms);
  }

  at(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        const status = this.scripts.get(path)?.shift() ?? 200;
        const body = Buffer.concat(chunks).toString("utf8");
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          // recorded as is
        }
        this.requests.push({ path, headers: req.headers, body, json, status });
        setTimeout(
          () => {
            res.writeHead(status, { "content-type": "application/json" }).end("{}");
          },
          this.delays.get(path) ?? 0,
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
