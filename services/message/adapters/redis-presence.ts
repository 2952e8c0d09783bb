import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import type { PresenceStore } from './presence.js';

export interface RedisPresenceOptions {
  url: string;
  keyPrefix: string;
  logger: Logger;
  now?: () => number;
}

/**
 * Presence on Redis (ioredis): one sorted set per user, member = Connect instance, score = the
 * time its entry expires. Lookups read only unexpired members; the key itself expires when no
 * instance refreshes it. Every call is one pipeline; commands fail fast while Redis is away (the
 * directory writes everything again once it is back) and the client reconnects forever.
 */
export function createRedisPresence(opts: RedisPresenceOptions): PresenceStore {
  const now = opts.now ?? Date.now;
  const redis = new Redis(opts.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    commandTimeout: 3000,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) opts.logger.warn({ err }, 'redis error');
    lastError = err.message;
  });
  const reconnectListeners: Array<() => void> = [];
  redis.on('ready', () => {
    if (lastError) opts.logger.info('redis reconnected');
    lastError = '';
    // The first connection too: writes that failed before it are made now, not at the next refresh.
    for (const l of reconnectListeners) l();
  });
  const key = (user: string): string => `${opts.keyPrefix}presence:${user}`;
  // Not under presence: (a user may be called "epoch").
  const epochKey = `${opts.keyPrefix}presence-epoch`;

  return {
    async start() {
      if (redis.status === 'ready') return;
      // After a failed first connect ioredis keeps reconnecting by itself; later calls just wait.
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          redis.off('ready', onReady);
          reject(new Error(`redis not ready (${redis.status}${lastError ? `: ${lastError}` : ''})`));
        }, 5000);
        const onReady = (): void => {
          clearTimeout(timer);
          resolve();
        };
        redis.once('ready', onReady);
      });
      if (redis.status === 'wait') redis.connect().catch((err: unknown) => opts.logger.debug({ err }, 'first redis connect failed; reconnecting'));
      await ready;
    },
    async stop() {
      redis.disconnect();
    },
    health(): CheckResult {
      return redis.status === 'ready' ? { ok: true, detail: 'connected' } : { ok: false, detail: `${redis.status}${lastError ? `: ${lastError}` : ''}` };
    },
    async refresh(instance, users, ttlMs) {
      if (users.length === 0) return;
      const until = now() + ttlMs;
      const p = redis.pipeline();
      for (const u of users) {
        p.zadd(key(u), until, instance);
        p.pexpire(key(u), ttlMs * 2);
      }
      check(await p.exec());
    },
    async remove(instance, users) {
      if (users.length === 0) return;
      const p = redis.pipeline();
      for (const u of users) p.zrem(key(u), instance);
      check(await p.exec());
    },
    async epoch() {
      // Set once by the first pod that finds it missing; every pod then reads the same token
      // until the server loses its data.
      const p = redis.pipeline();
      p.set(epochKey, randomUUID(), 'NX');
      p.get(epochKey);
      return String(check(await p.exec())[1]);
    },
    onReconnect(listener) {
      reconnectListeners.push(listener);
    },
    async lookup(users) {
      const out = new Map<string, string[]>();
      if (users.length === 0) return out;
      const t = now();
      const p = redis.pipeline();
      for (const u of users) p.zrangebyscore(key(u), `(${t}`, '+inf');
      const results = check(await p.exec());
      users.forEach((u, i) => {
        const instances = results[i] as string[];
        if (instances.length > 0) out.set(u, instances);
      });
      return out;
    },
  };
}

/** The values of a pipeline's replies; throws the first error. */
function check(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new Error('redis pipeline was not executed');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
