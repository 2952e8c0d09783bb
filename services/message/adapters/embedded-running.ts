import type { CheckResult } from '../../shared/health.js';
import { UnavailableError } from '../../shared/errors.js';

/** The running state of an in-process backend: started, stopped, and refusing calls while stopped. */
export class EmbeddedRunning {
  private running = false;

  /** `what` names the backend in the refusal ("store is not running"). */
  constructor(private readonly what: string) {}

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  health(): CheckResult {
    return this.running ? { ok: true, detail: 'embedded' } : { ok: false, detail: 'stopped' };
  }

  /** Throws UNAVAILABLE unless started. */
  check(): void {
    if (!this.running) throw new UnavailableError(`${this.what} is not running`);
  }
}
