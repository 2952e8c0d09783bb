import { ReconnectPolicy, type BackoffOptions } from './backoff.js';

export interface RetryOptions {
  backoff: BackoffOptions;
  /** Checked before every attempt: true gives up (the caller is stopping). */
  stopped: () => boolean;
  /** Told about each failure and the delay before the next attempt (logs, metrics). */
  onRetry?: (err: unknown, delayMs: number) => void;
  /** Waits between attempts; injected for tests and for waits that stop() can cut short. */
  sleep: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/**
 * Runs `attempt` until it succeeds (true) or `stopped()` (false), waiting the exponential backoff
 * of a ReconnectPolicy between failures. Clock, random source and sleep are injected, so the delays
 * are exact in tests. The one retry loop of the services (backends at start-up, the readiness
 * gate's patches, the embedded log's redeliveries).
 */
export async function retryUntil(attempt: () => Promise<void>, opts: RetryOptions): Promise<boolean> {
  const policy = new ReconnectPolicy(opts.backoff, Number.POSITIVE_INFINITY, opts.now, opts.random);
  for (;;) {
    if (opts.stopped()) return false;
    try {
      await attempt();
      return true;
    } catch (err: unknown) {
      if (opts.stopped()) return false;
      const delay = policy.nextDelay();
      opts.onRetry?.(err, delay);
      await opts.sleep(delay);
    }
  }
}
