// @ts-check
/**
 * Exponential backoff per the gRPC connection-backoff spec. Plain ES module with JSDoc types so
 * that the services and the browser demo page (which has no build step) share one implementation.
 */

/**
 * Settings of exponential backoff per the gRPC connection-backoff spec.
 * @typedef {object} BackoffOptions
 * @property {number} initialMs  first delay, ms (spec: 1 s)
 * @property {number} multiplier  growth per failure (spec: 1.6)
 * @property {number} jitter  relative jitter, 0..1 (spec: 0.2 → ±20 %)
 * @property {number} maxMs  upper bound of the un-jittered delay, ms (spec: 120 s; ours defaults to 30 s)
 */

/** @type {Readonly<BackoffOptions>} */
export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 30_000 });

/**
 * Exponential backoff with jitter. `random` returns a number in [0, 1) and is injected so tests
 * can assert exact delays.
 */
export class Backoff {
  /** @type {Readonly<BackoffOptions>} */ #opts;
  /** @type {() => number} */ #random;
  /** @type {number} */ #current;

  /**
   * @param {Readonly<BackoffOptions>} [opts]
   * @param {() => number} [random]
   */
  constructor(opts = DEFAULT_BACKOFF, random = Math.random) {
    this.#opts = opts;
    this.#random = random;
    this.#current = opts.initialMs;
  }

  /** The delay to wait before the next attempt; grows the base for the one after. @returns {number} */
  next() {
    const base = this.#current;
    this.#current = Math.min(this.#current * this.#opts.multiplier, this.#opts.maxMs);
    const spread = base * this.#opts.jitter;
    return Math.max(0, Math.round(base - spread + this.#random() * 2 * spread));
  }

  /** Back to the initial delay (after a connection stayed healthy long enough). */
  reset() {
    this.#current = this.#opts.initialMs;
  }
}

/**
 * When to retry a connection that keeps failing or flapping: exponential backoff that starts over
 * only after the connection stayed up for `resetAfterMs`, so a peer that accepts and drops at once
 * cannot cause a tight loop. Clock and random source are injected.
 */
export class ReconnectPolicy {
  /** @type {Backoff} */ #backoff;
  /** @type {number} */ #resetAfterMs;
  /** @type {() => number} */ #now;
  /** @type {number | undefined} */ #upSince;

  /**
   * @param {Readonly<BackoffOptions>} opts
   * @param {number} resetAfterMs
   * @param {() => number} [now]
   * @param {() => number} [random]
   */
  constructor(opts, resetAfterMs, now = Date.now, random = Math.random) {
    this.#backoff = new Backoff(opts, random);
    this.#resetAfterMs = resetAfterMs;
    this.#now = now;
  }

  /** The connection is up. */
  up() {
    this.#upSince = this.#now();
  }

  /** The connection failed to come up, or was lost: the delay before the next attempt. @returns {number} */
  nextDelay() {
    if (this.#upSince !== undefined && this.#now() - this.#upSince >= this.#resetAfterMs) this.#backoff.reset();
    this.#upSince = undefined;
    return this.#backoff.next();
  }
}
