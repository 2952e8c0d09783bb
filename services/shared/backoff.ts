/** Settings of exponential backoff per the gRPC connection-backoff spec. */
export interface BackoffOptions {
  /** First delay, ms (spec: 1 s). */
  initialMs: number;
  /** Growth per failure (spec: 1.6). */
  multiplier: number;
  /** Relative jitter, 0..1 (spec: 0.2 → ±20 %). */
  jitter: number;
  /** Upper bound of the un-jittered delay, ms (spec: 120 s; ours defaults to 30 s). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 30_000 });

/**
 * Exponential backoff with jitter. `random` returns a number in [0, 1) and is injected so tests
 * can assert exact delays.
 */
export class Backoff {
  private current: number;

  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {
    this.current = opts.initialMs;
  }

  /** The delay to wait before the next attempt; grows the base for the one after. */
  next(): number {
    const base = this.current;
    this.current = Math.min(this.current * this.opts.multiplier, this.opts.maxMs);
    const spread = base * this.opts.jitter;
    return Math.max(0, Math.round(base - spread + this.random() * 2 * spread));
  }

  /** Back to the initial delay (after a connection stayed healthy long enough). */
  reset(): void {
    this.current = this.opts.initialMs;
  }
}

/**
 * When to retry a connection that keeps failing or flapping: exponential backoff that starts over
 * only after the connection stayed up for `resetAfterMs`, so a peer that accepts and drops at once
 * cannot cause a tight loop. Clock and random source are injected.
 */
export class ReconnectPolicy {
  private readonly backoff: Backoff;
  private upSince: number | undefined;

  constructor(
    opts: BackoffOptions,
    private readonly resetAfterMs: number,
    private readonly now: () => number = Date.now,
    random: () => number = Math.random,
  ) {
    this.backoff = new Backoff(opts, random);
  }

  /** The connection is up. */
  up(): void {
    this.upSince = this.now();
  }

  /** The connection failed to come up, or was lost: the delay before the next attempt. */
  nextDelay(): number {
    if (this.upSince !== undefined && this.now() - this.upSince >= this.resetAfterMs) this.backoff.reset();
    this.upSince = undefined;
    return this.backoff.next();
  }
}
