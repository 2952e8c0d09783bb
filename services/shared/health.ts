/** The state of one readiness check. */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

/** Something whose health is reported on /readyz. */
export interface HealthReporter {
  health(): CheckResult;
}

/** A named set of readiness checks, evaluated on demand. */
export type ReadinessChecks = () => Record<string, CheckResult>;

/** The /readyz body of docs/PROTOCOL.md §6. */
export function readiness(checks: Record<string, CheckResult>): { ready: boolean; checks: Record<string, CheckResult> } {
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}
