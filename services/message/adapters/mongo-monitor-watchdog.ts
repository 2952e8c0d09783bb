import type { MongoClient } from 'mongodb';
import type { Logger } from '../../shared/logger.js';

/** Beyond the longest a heartbeat may rightly take (its connect timeout plus an awaited hello's wait). */
const MARGIN_MS = 5000;

/**
 * Restarts the driver's server monitoring when it hangs. The Node.js driver checks each server with
 * a heartbeat and marks it Unknown after a network error; operations then wait for the next
 * heartbeat to find it again. When connections are reset while a heartbeat is in flight (a store
 * behind a proxy or Service whose backend restarts), that heartbeat can start and never end: the
 * server stays Unknown for good and every operation fails server selection, although the store is
 * back. The watchdog sees a heartbeat outstanding for longer than any heartbeat may take, and
 * closes and reconnects the client (the same client: collections taken from it stay valid).
 */
export class MonitorWatchdog {
  /** When the outstanding heartbeat started; undefined when none is. */
  private since: number | undefined;
  private busy = false;
  private stopped = false;
  /** The watchdog closed the client and has not connected it again yet (a closed client never reconnects by itself). */
  private closed = false;
  /** Restarts so far (closed and connected again). */
  restarts = 0;
  private readonly stuckAfterMs: number;

  constructor(
    private readonly client: MongoClient,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    const { connectTimeoutMS, heartbeatFrequencyMS } = client.options;
    this.stuckAfterMs = connectTimeoutMS + heartbeatFrequencyMS + MARGIN_MS;
    client.on('serverHeartbeatStarted', () => (this.since ??= this.now()));
    client.on('serverHeartbeatSucceeded', () => (this.since = undefined));
    client.on('serverHeartbeatFailed', () => (this.since = undefined));
  }

  /** No more restarts (the store stops and closes the client). */
  stop(): void {
    this.stopped = true;
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Called periodically: closes the client when the outstanding heartbeat is overdue, and connects
   * it again, at this call or (the store still away) at the next ones until it connects.
   */
  async check(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    try {
      if (!this.closed) {
        const waited = this.since === undefined ? 0 : this.now() - this.since;
        if (waited <= this.stuckAfterMs) return;
        this.logger.warn(
          { waitedMs: waited, limitMs: this.stuckAfterMs },
          'the MongoDB driver stopped checking the server (a heartbeat never ended); reconnecting the client',
        );
        this.closed = true;
        this.since = undefined;
        await this.client.close();
      }
      // The store may have stopped meanwhile (it closes the client itself).
      if (this.isStopped()) return;
      await this.client.connect();
      this.closed = false;
      this.restarts++;
      this.logger.info('MongoDB client reconnected');
    } catch (err: unknown) {
      // The store is away: connect again at the next check.
      this.logger.warn({ err }, 'reconnecting the MongoDB client failed; trying again');
    } finally {
      this.busy = false;
    }
  }
}
