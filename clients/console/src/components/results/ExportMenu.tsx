/**
 * Downloads (CSV and JSON from the server, the chart as SVG or PNG drawn in
 * the browser) and the permalink. Images are made without inline scripts:
 * the SVG is serialized to a blob: URL, loaded into an Image and drawn on a
 * canvas (the console's CSP allows img-src blob:).
 */
import { useState, type RefObject } from "react";
import { createClient } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ExportFormat, ReportService } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { useTransport } from "@connectrpc/connect-query";
import { downloadBlob } from "../../api/reports.js";
import { describeError } from "../../api/errors.js";

export function serializeSvg(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  const box = svg.viewBox.baseVal;
  if (box !== null && box !== undefined && box.width > 0) {
    clone.setAttribute("width", String(box.width));
    clone.setAttribute("height", String(box.height));
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(clone)}`;
}

export async function svgToPng(svg: SVGSVGElement, scale = 2): Promise<Blob> {
  const text = serializeSvg(svg);
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  try {
    const image = new Image();
    await new Promise<void>((resolve, reject) => {
      image.onload = () => resolve();
      image.onerror = () => reject(new Error("The chart could not be drawn as an image."));
      image.src = url;
    });
    const box = svg.viewBox.baseVal;
    const width = box?.width || svg.clientWidth || 760;
    const height = box?.height || svg.clientHeight || 300;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const ctx = canvas.getContext("2d");
    if (ctx === null) throw new Error("This browser cannot draw images.");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob(
        (b) => (b === null ? reject(new Error("PNG encoding failed.")) : resolve(b)),
        "image/png",
      ),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}

export function ExportMenu(props: {
  experimentId: string;
  from?: Date;
  to?: Date;
  /** Whether the user's roles allow ExportExperimentReport. */
  canExport: boolean;
  chart: RefObject<SVGSVGElement | null>;
  /** Base of the chart file names. */
  chartName: string;
  /** The view's segment filter and breakdown, exported with the report. */
  segment?: readonly { dimension: string; values: readonly string[] }[];
  breakdownDimension?: string;
  /** The view's saved segment filter (a key), exported with the report. */
  savedSegment?: string;
}) {
  const transport = useTransport();
  const [busy, setBusy] = useState<string | undefined>();
  const [message, setMessage] = useState<{ text: string; bad: boolean } | undefined>();

  const run = async (what: string, task: () => Promise<string>) => {
    setBusy(what);
    setMessage(undefined);
    try {
      setMessage({ text: await task(), bad: false });
    } catch (error) {
      setMessage({ text: `${what} failed: ${describeError(error)}`, bad: true });
    } finally {
      setBusy(undefined);
    }
  };

  const exportReport = (format: ExportFormat, label: string) =>
    run(label, async () => {
      const response = await createClient(ReportService, transport).exportExperimentReport({
        experimentId: props.experimentId,
        from: props.from === undefined ? undefined : timestampFromDate(props.from),
        to: props.to === undefined ? undefined : timestampFromDate(props.to),
        segment: (props.segment ?? []).map((c) => ({
          dimension: c.dimension,
          values: [...c.values],
        })),
        breakdownDimension: props.breakdownDimension ?? "",
        savedSegment: props.savedSegment ?? "",
        format,
      });
      const ext = format === ExportFormat.CSV ? "csv" : "json";
      const name = response.filename || `report-${props.experimentId}.${ext}`;
      downloadBlob(
        new Blob([response.data as Uint8Array<ArrayBuffer>], {
          type: response.contentType || (ext === "csv" ? "text/csv" : "application/json"),
        }),
        name,
      );
      return `Downloaded ${name}.`;
    });

  const chartSvg = () => {
    const svg = props.chart.current;
    if (svg === null) throw new Error("There is no chart to download yet.");
    return svg;
  };

  return (
    <div className="export-menu">
      <div className="actions" role="group" aria-label="Export and share">
        {props.canExport && (
          <>
            <button
              type="button"
              disabled={busy !== undefined}
              onClick={() => void exportReport(ExportFormat.CSV, "Download CSV")}
            >
              Download CSV
            </button>
            <button
              type="button"
              disabled={busy !== undefined}
              onClick={() => void exportReport(ExportFormat.JSON, "Download JSON")}
            >
              Download JSON
            </button>
          </>
        )}
        <button
          type="button"
          disabled={busy !== undefined}
          onClick={() =>
            void run("Download chart (SVG)", async () => {
              const name = `${props.chartName}.svg`;
              downloadBlob(new Blob([serializeSvg(chartSvg())], { type: "image/svg+xml" }), name);
              return `Downloaded ${name}.`;
            })
          }
        >
          Download chart (SVG)
        </button>
        <button
          type="button"
          disabled={busy !== undefined}
          onClick={() =>
            void run("Download chart (PNG)", async () => {
              const name = `${props.chartName}.png`;
              downloadBlob(await svgToPng(chartSvg()), name);
              return `Downloaded ${name}.`;
            })
          }
        >
          Download chart (PNG)
        </button>
        <button
          type="button"
          onClick={() =>
            void run("Copy link", async () => {
              await navigator.clipboard.writeText(location.href);
              return "Link copied: it reopens this exact view.";
            })
          }
        >
          Copy link
        </button>
      </div>
      <p
        className={message?.bad === true ? "field-error" : "help"}
        role="status"
        aria-live="polite"
      >
        {busy !== undefined ? `${busy}…` : (message?.text ?? "")}
      </p>
    </div>
  );
}
