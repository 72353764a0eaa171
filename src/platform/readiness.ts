/**
 * What /ready and grpc.health.v1 report: every named check must pass.
 * Modules add their own checks (the decide snapshot adds one).
 */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Each check's result; a check that throws or takes over 1 s counts as failed. */
  async report(): Promise<Record<string, boolean>> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 1_000).unref();
        });
        const result = await Promise.race([Promise.resolve().then(check), timeout])
          .catch(() => false)
          .finally(() => clearTimeout(timer));
        return [name, result] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  async isReady(): Promise<boolean> {
    if (this.checks.size === 0) return false;
    return Object.values(await this.report()).every(Boolean);
  }
}
