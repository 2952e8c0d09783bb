import type { CheckResult } from '../../shared/health.js';
import { UnavailableError } from '../../shared/errors.js';
import type { PresenceStore } from './presence.js';

/** In-process twin of the Redis presence store: per-(user, instance) expiry. */
export function createEmbeddedPresence(opts: { now?: () => number } = {}): PresenceStore {
  const now = opts.now ?? Date.now;
  const users = new Map<string, Map<string, number>>();
  let running = false;
  const ensureRunning = (): void => {
    if (!running) throw new UnavailableError('presence is not running');
  };
  return {
    async start() {
      running = true;
    },
    async stop() {
      running = false;
    },
    health(): CheckResult {
      return running ? { ok: true, detail: 'embedded' } : { ok: false, detail: 'stopped' };
    },
    async refresh(instance, list, ttlMs) {
      ensureRunning();
      const until = now() + ttlMs;
      for (const u of list) {
        let m = users.get(u);
        if (!m) users.set(u, (m = new Map()));
        m.set(instance, until);
      }
    },
    async remove(instance, list) {
      ensureRunning();
      for (const u of list) {
        const m = users.get(u);
        m?.delete(instance);
        if (m?.size === 0) users.delete(u);
      }
    },
    async lookup(list) {
      ensureRunning();
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
