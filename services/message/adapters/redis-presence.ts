import { randomUUID } from 'node:crypto';
import { connectRedis, pipelineResults } from './redis-connection.js';
import type { Logger } from '../../shared/logger.js';
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
  const conn = connectRedis(opts.url, opts.logger);
  const { redis } = conn;
  const key = (user: string): string => `${opts.keyPrefix}presence:${user}`;
  // Not under presence: (a user may be called "epoch").
  const epochKey = `${opts.keyPrefix}presence-epoch`;

  return {
    start: () => conn.start(),
    stop: () => conn.stop(),
    health: () => conn.health(),
    async refresh(instance, users, ttlMs) {
      if (users.length === 0) return;
      const until = now() + ttlMs;
      const p = redis.pipeline();
      for (const u of users) {
        p.zadd(key(u), until, instance);
        p.pexpire(key(u), ttlMs * 2);
      }
      pipelineResults(await p.exec());
    },
    async remove(instance, users) {
      if (users.length === 0) return;
      const p = redis.pipeline();
      for (const u of users) p.zrem(key(u), instance);
      pipelineResults(await p.exec());
    },
    async epoch() {
      // Set once by the first pod that finds it missing; every pod then reads the same token
      // until the server loses its data.
      const p = redis.pipeline();
      p.set(epochKey, randomUUID(), 'NX');
      p.get(epochKey);
      return String(pipelineResults(await p.exec())[1]);
    },
    onReconnect(listener) {
      // The first connection too: writes that failed before it are made now, not at the next refresh.
      conn.onReady(listener);
    },
    async lookup(users) {
      const out = new Map<string, string[]>();
      if (users.length === 0) return out;
      const t = now();
      const p = redis.pipeline();
      for (const u of users) p.zrangebyscore(key(u), `(${t}`, '+inf');
      const results = pipelineResults(await p.exec());
      users.forEach((u, i) => {
        const instances = results[i] as string[];
        if (instances.length > 0) out.set(u, instances);
      });
      return out;
    },
  };
}

/** The values of a pipeline's replies; throws the first error. */
