/**
 * The look every chart's axes share (colours meet WCAG contrast on white):
 * spread into visx's AxisLeft / AxisBottom.
 */
const LINE = "#8c959f";
const LABEL = "#505a66";

/** A value axis on the left: tick labels right-aligned against it. */
export const LEFT_AXIS = {
  stroke: LINE,
  tickStroke: LINE,
  tickLabelProps: () => ({
    fill: LABEL,
    fontSize: 11,
    textAnchor: "end" as const,
    dx: -4,
    dy: 3,
  }),
};

/** A bottom axis: tick labels centred under their ticks. */
export const BOTTOM_AXIS = {
  stroke: LINE,
  tickStroke: LINE,
  tickLabelProps: () => ({ fill: LABEL, fontSize: 11, textAnchor: "middle" as const }),
};
