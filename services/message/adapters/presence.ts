import type { HealthReporter } from '../../shared/health.js';

/**
 * Which Connect instances hold which users (Redis, or the embedded twin). Every entry expires
 * after its TTL unless refreshed, so the routes of a crashed Connect pod vanish by themselves.
 */
export interface PresenceStore extends HealthReporter {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Marks `users` as held by `instance` for `ttlMs` from now (creates or extends). */
  refresh(instance: string, users: readonly string[], ttlMs: number): Promise<void>;
  /** Removes the entries of `users` on `instance`. */
  remove(instance: string, users: readonly string[]): Promise<void>;
  /** The live instances of each user; users held nowhere are absent from the map. */
  lookup(users: readonly string[]): Promise<Map<string, string[]>>;
  /**
   * A token that stays the same for as long as the store keeps its entries: a store restarted
   * empty, flushed or failed over to another server answers a different one.
   */
  epoch(): Promise<string>;
  /** Calls `listener` each time the store's connection is (again) ready: it may have lost entries meanwhile. */
  onReconnect?(listener: () => void): void;
}
