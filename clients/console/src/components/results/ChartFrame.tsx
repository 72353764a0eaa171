/**
 * The frame both charts share: an SVG with role="img", an accessible label
 * and a <title>, a white background (so the exported SVG and PNG look like
 * the page) and the console's font, all as attributes so the file stands alone.
 */
import type { ReactNode, Ref } from "react";

export function ChartFrame({
  ref,
  testId,
  title,
  label,
  width,
  height,
  children,
}: {
  ref?: Ref<SVGSVGElement>;
  testId: string;
  title: string;
  label: string;
  width: number;
  height: number;
  children: ReactNode;
}) {
  return (
    <svg
      ref={ref}
      data-testid={testId}
      role="img"
      aria-label={label}
      xmlns="http://www.w3.org/2000/svg"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      className="chart"
      fontFamily="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
    >
      <title>{title}</title>
      <rect x={0} y={0} width={width} height={height} fill="#ffffff" />
      {children}
    </svg>
  );
}
