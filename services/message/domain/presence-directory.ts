import type { Logger } from '../../shared/logger.js';
import type { PresenceStore } from '../adapters/presence.js';

export interface PresenceDirectoryOptions {
  store: PresenceStore;
  /** How long an entry lives without refresh; the directory rewrites every entry each third of it. */
  ttlMs: number;
  /** Every gateway's announced users now: what a full rewrite writes. */
  announced: () => Iterable<readonly [instance: string, users: ReadonlySet<string>]>;
  logger: Logger;
  /** Told of each full rewrite and why (metrics). */
  onRewrite?: (reason: RewriteReason) => void;
}

/** Why every entry was written again: the periodic refresh, the store's epoch changed, or a write failed before. */
export type RewriteReason = 'refresh' | 'store_reset' | 'after_failure';
export const REWRITE_REASONS: readonly RewriteReason[] = ['refresh', 'store_reset', 'after_failure'];

/**
 * The cluster-wide directory of who is online on which gateway (Redis), written behind the
 * gateways' announcements. Routing does not read it (each pod routes by the announcements on its
 * own streams, which hold every gateway it can push to); the directory is what other parts and
 * operators read to ask where a user is.
 *
 * It is written behind, never in the way of a push or an acknowledgement: changes are gathered
 * and written as one batch, one at a time. A failed write, a store that reconnected or whose epoch
 * changed (restarted empty, failed over to a replica that lagged, flushed) makes the next write a
 * full rewrite from the announcements, at once rather than at the next refresh.
 */
export class PresenceDirectory {
  /** Per gateway, changes not yet written: user → online (true) or offline (false). */
  private pending = new Map<string, Map<string, boolean>>();
  private rewrite: RewriteReason | undefined;
  private writing: Promise<void> | undefined;
  private scheduled = false;
  private epoch: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** A write failed: changes wait for the store's reconnect or the next refresh round, not retried at once. */
  private blocked = false;

  constructor(private readonly opts: PresenceDirectoryOptions) {}

  /** Starts the periodic full rewrite (every third of the TTL) and follows the store's reconnects. */
  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.requestRewrite('refresh'), Math.max(100, Math.floor(this.opts.ttlMs / 3)));
    this.timer.unref();
    // Back after a loss: its epoch tells whether it kept its entries (checked by every write).
    this.opts.store.onReconnect?.(() => {
      this.blocked = false;
      this.schedule();
    });
  }

  /** Stops writing (what is pending is dropped: the entries expire by themselves). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Records a gateway's presence change; it is written with the next batch. */
  changed(instance: string, online: Iterable<string>, offline: Iterable<string>): void {
    let p = this.pending.get(instance);
    if (!p) this.pending.set(instance, (p = new Map<string, boolean>()));
    for (const u of online) p.set(u, true);
    for (const u of offline) p.set(u, false);
    this.schedule();
  }

  /** Resolves once what was recorded before the call is written (or failed). Tests and drains. */
  async flushed(): Promise<void> {
    while (this.scheduled || this.writing) await (this.writing ?? new Promise((r) => setImmediate(r)));
  }

  private requestRewrite(reason: RewriteReason): void {
    this.noteRewrite(reason);
    this.blocked = false;
    this.schedule();
  }

  /** Asks for a full rewrite; a failure or a reset that asked for one already is the more telling reason. */
  private noteRewrite(reason: RewriteReason): void {
    if (this.rewrite === undefined || this.rewrite === 'refresh') this.rewrite = reason;
  }

  private schedule(): void {
    if (this.scheduled || this.stopped || this.blocked) return;
    this.scheduled = true;
    // Changes of one event-loop turn go out together; one write in flight at a time keeps order.
    setImmediate(() => {
      this.scheduled = false;
      if (this.writing) {
        void this.writing.then(() => this.schedule());
        return;
      }
      this.writing = this.write().finally(() => (this.writing = undefined));
    });
  }

  private async write(): Promise<void> {
    const changes = this.pending;
    this.pending = new Map();
    let reason = this.rewrite;
    this.rewrite = undefined;
    try {
      // The store's epoch: a new one means its entries are gone (or older than ours), so all of them are written again.
      const epoch = await this.opts.store.epoch();
      if (this.epoch !== undefined && epoch !== this.epoch) reason = 'store_reset';
      this.epoch = epoch;
      if (reason !== undefined) {
        for (const [instance, users] of this.opts.announced()) await this.opts.store.refresh(instance, [...users], this.opts.ttlMs);
        this.opts.onRewrite?.(reason);
        if (reason !== 'refresh') this.opts.logger.info({ reason }, "presence directory written again from the gateways' announcements");
      }
      for (const [instance, users] of changes) {
        const online: string[] = [];
        const offline: string[] = [];
        for (const [u, on] of users) (on ? online : offline).push(u);
        // A full rewrite just wrote the online ones.
        if (online.length > 0 && reason === undefined) await this.opts.store.refresh(instance, online, this.opts.ttlMs);
        if (offline.length > 0) await this.opts.store.remove(instance, offline);
      }
    } catch (err: unknown) {
      // Written again in full once the store answers (its reconnect, or the next refresh round);
      // departures not written yet are kept, the rest expire by their TTL.
      this.opts.logger.warn({ err }, 'presence directory write failed; rewriting it when the store is back');
      this.noteRewrite('after_failure');
      this.blocked = true;
      for (const [instance, users] of changes) {
        const offline = [...users].filter(([, on]) => !on).map(([u]) => u);
        if (offline.length > 0) this.changed(instance, [], offline);
      }
    }
  }
}
