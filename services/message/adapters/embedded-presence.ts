import { randomUUID } from 'node:crypto';
import { EmbeddedRunning } from './embedded-running.js';
import type { PresenceStore } from './presence.js';

/** In-process twin of the Redis presence store: per-(user, instance) expiry. */
export function createEmbeddedPresence(opts: { now?: () => number } = {}): PresenceStore {
  const now = opts.now ?? Date.now;
  const users = new Map<string, Map<string, number>>();
  const state = new EmbeddedRunning('presence');
  // In-process entries live as long as this object: one epoch.
  const epoch = randomUUID();
  return {
    start: () => state.start(),
    stop: () => state.stop(),
    health: () => state.health(),
    async refresh(instance, list, ttlMs) {
      state.check();
      const until = now() + ttlMs;
      for (const u of list) {
        let m = users.get(u);
        if (!m) users.set(u, (m = new Map<string, number>()));
        m.set(instance, until);
      }
    },
    async remove(instance, list) {
      state.check();
      for (const u of list) {
        const m = users.get(u);
        m?.delete(instance);
        if (m?.size === 0) users.delete(u);
      }
    },
    async epoch() {
      state.check();
      return epoch;
    },
    async lookup(list) {
      state.check();
      const t = now();
      const out = new Map<string, string[]>();
      for (const u of list) {
        const m = users.get(u);
        if (!m) continue;
        const live: string[] = [];
        for (const [instance, until] of m) {
          if (until > t) live.push(instance);
          else m.delete(instance);
        }
        if (m.size === 0) users.delete(u);
        if (live.length > 0) out.set(u, live);
      }
      return out;
    },
  };
}
