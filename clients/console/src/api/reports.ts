/**
 * Report loading for the results page. An open window (no `to`) is watched
 * live through ReportService.WatchExperimentReport, reconnecting when the
 * server ends the stream; if streaming fails before the first report, the
 * unary GetExperimentReport answers instead. A closed window is read once.
 */
import { useEffect, useState } from "react";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ReportService, type Report } from "../../../../gen/lotty/reports/v1/reports_pb.js";
import { useTransport } from "@connectrpc/connect-query";

export interface LiveReportState {
  report: Report | undefined;
  error: unknown;
  /** True while a stream is open and delivering. */
  live: boolean;
  /** When the browser last received a report. */
  receivedAt: Date | undefined;
  loading: boolean;
}

export interface LiveReportArgs {
  experimentId: string;
  from?: Date;
  to?: Date;
  /** False: load nothing (e.g. an invalid window). */
  enabled?: boolean;
  /** Segment filter (docs/segments.md); empty: the whole experiment. */
  segment?: readonly { dimension: string; values: readonly string[] }[];
  /** Breakdown dimension key; empty or unset: none. */
  breakdownDimension?: string;
  /** Saved segment filter (docs/saved-segments.md): a key; empty or unset: none. */
  savedSegment?: string;
}

const RECONNECT_MS = 3_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Streams (or fetches) reports, calling `onReport` for each; resolves when aborted or done. */
export async function followReport(
  transport: Transport,
  args: LiveReportArgs,
  signal: AbortSignal,
  on: {
    report(report: Report, live: boolean): void;
    error(error: unknown): void;
    live(live: boolean): void;
  },
): Promise<void> {
  const client = createClient(ReportService, transport);
  const from = args.from === undefined ? undefined : timestampFromDate(args.from);
  const segments = {
    segment: (args.segment ?? []).map((c) => ({ dimension: c.dimension, values: [...c.values] })),
    breakdownDimension: args.breakdownDimension ?? "",
    savedSegment: args.savedSegment ?? "",
  };
  const unary = async () => {
    const to = args.to === undefined ? undefined : timestampFromDate(args.to);
    const response = await client.getExperimentReport(
      { experimentId: args.experimentId, from, to, ...segments },
      { signal },
    );
    if (response.report !== undefined) on.report(response.report, false);
  };
  if (args.to !== undefined) {
    try {
      await unary();
    } catch (error) {
      if (!signal.aborted) on.error(error);
    }
    return;
  }
  let received = false;
  let failures = 0;
  while (!signal.aborted) {
    try {
      for await (const message of client.watchExperimentReport(
        { experimentId: args.experimentId, from, ...segments },
        { signal },
      )) {
        if (message.report === undefined) continue;
        received = true;
        failures = 0;
        on.report(message.report, true);
      }
      // The server ended the stream (deadline, shutdown): reconnect.
      on.live(false);
    } catch (error) {
      if (signal.aborted) return;
      on.live(false);
      const e = ConnectError.from(error);
      // A request the server refuses will be refused again: show it.
      if (
        e.code === Code.NotFound ||
        e.code === Code.InvalidArgument ||
        e.code === Code.PermissionDenied ||
        e.code === Code.Unauthenticated
      ) {
        on.error(error);
        return;
      }
      failures += 1;
      if (!received) {
        // Streaming may be unavailable on the way (a proxy): answer once instead.
        try {
          await unary();
          received = true;
        } catch (unaryError) {
          if (!signal.aborted) on.error(unaryError);
          return;
        }
      }
      if (failures >= 5) return;
    }
    await sleep(RECONNECT_MS * Math.max(1, failures), signal);
  }
}

/** The report for an experiment and window, live while the window is open. */
export function useLiveReport(args: LiveReportArgs): LiveReportState {
  const transport = useTransport();
  const [state, setState] = useState<LiveReportState & { key?: string }>({
    report: undefined,
    error: undefined,
    live: false,
    receivedAt: undefined,
    loading: true,
  });
  const fromMs = args.from?.getTime();
  const toMs = args.to?.getTime();
  const enabled = args.enabled !== false;
  const { experimentId } = args;
  const segmentKey = JSON.stringify([
    args.segment ?? [],
    args.breakdownDimension ?? "",
    args.savedSegment ?? "",
  ]);
  // Identifies the request; state from an earlier request is not shown for a new one.
  const key = `${experimentId}|${fromMs ?? ""}|${toMs ?? ""}|${segmentKey}`;

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const [segment, breakdownDimension, savedSegment] = JSON.parse(segmentKey) as [
      LiveReportArgs["segment"],
      string,
      string,
    ];
    const window: LiveReportArgs = { experimentId, segment, breakdownDimension, savedSegment };
    if (fromMs !== undefined) window.from = new Date(fromMs);
    if (toMs !== undefined) window.to = new Date(toMs);
    void followReport(transport, window, controller.signal, {
      report: (report, live) =>
        setState({ key, report, error: undefined, live, receivedAt: new Date(), loading: false }),
      error: (error) => setState((s) => ({ ...s, key, error, live: false, loading: false })),
      live: (live) => setState((s) => ({ ...s, live })),
    });
    return () => controller.abort();
  }, [transport, experimentId, fromMs, toMs, enabled, key, segmentKey]);

  if (!enabled) {
    return {
      report: undefined,
      error: undefined,
      live: false,
      receivedAt: undefined,
      loading: false,
    };
  }
  if (state.key !== key) {
    return {
      report: undefined,
      error: undefined,
      live: false,
      receivedAt: undefined,
      loading: true,
    };
  }
  return state;
}

/** Saves bytes as a file through a temporary `<a download>`. */
export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.rel = "noopener";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1_000);
}
