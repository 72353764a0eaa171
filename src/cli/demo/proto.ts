/** Enums and message types of the contract under the names the demo uses. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  accessV1,
  catalogV1,
  experimentsV1,
  flagsV1,
  type learningsV1,
  type reportsV1,
} from "../../../clients/node/src/index.js";

export const { Role } = accessV1;
export const { MetricKind, PropertyType, FilterOperator, FunnelOrder } = catalogV1;
export const { FlagType } = flagsV1;
export const {
  Direction,
  ExperimentStatus,
  GuardrailAction,
  Outcome,
  RampEventKind,
  RampMode,
  RampSafetyAction,
} = experimentsV1;

export type Role = accessV1.Role;
export type Experiment = experimentsV1.Experiment;
export type ExperimentStatus = experimentsV1.ExperimentStatus;
export type Outcome = experimentsV1.Outcome;
export type RampEvent = experimentsV1.RampEvent;
export type RampEventKind = experimentsV1.RampEventKind;
export type RampMode = experimentsV1.RampMode;
export type RampSafetyAction = experimentsV1.RampSafetyAction;
export type ExperimentInit = MessageInitShape<typeof experimentsV1.ExperimentSchema>;
export type Report = reportsV1.Report;
export type Learning = learningsV1.Learning;
