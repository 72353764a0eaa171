/** Types of decide-runner.mjs, for the TypeScript tests. */
export const REASONS: readonly string[];
export const DEFAULT_VECTORS: string;
export function claimsOfDecisionId(id: unknown): unknown;
export function compareDecisions(
  expected: unknown[],
  got: unknown,
  options?: { ids?: boolean },
): string[];
export function checkDecideVectors(
  doc: unknown,
  decide: (configuration: never, request: never) => unknown,
  options?: { ids?: boolean },
): Promise<string[]>;
export function checkCommand(
  doc: unknown,
  command: string,
  args: string[],
  options?: { ids?: boolean },
): Promise<string[]>;
