import { randomUUID } from 'node:crypto';
import { connectRedis, pipelinePerNode, pipelineResults, type RedisTarget } from './redis-connection.js';
import type { Logger } from '../../shared/logger.js';
import type { PresenceStore } from './presence.js';

export interface RedisPresenceOptions extends RedisTarget {
  keyPrefix: string;
  logger: Logger;
  now?: () => number;
}

/**
 * Presence on Redis (ioredis): one sorted set per user, member = Connect instance, score = the
 * time its entry expires. Lookups read only unexpired members; the key itself expires when no
 * instance refreshes it. Every call is one pipeline per server (one, or each Redis Cluster node
 * holding some of the users); commands fail fast while Redis is away (the directory writes
 * everything again once it is back, or once a cluster's slot map changed after a node loss) and
 * the client reconnects forever.
 */
export function createRedisPresence(opts: RedisPresenceOptions): PresenceStore {
  const now = opts.now ?? Date.now;
  const conn = connectRedis(opts, opts.logger);
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
      await pipelinePerNode(conn, users.map(key), (p, k) => p.zadd(k, until, instance).pexpire(k, ttlMs * 2), 2);
    },
    async remove(instance, users) {
      if (users.length === 0) return;
      await pipelinePerNode(conn, users.map(key), (p, k) => p.zrem(k, instance));
    },
    async epoch() {
      // Set once by the first pod that finds it missing; every pod then reads the same token
      // until the server loses its data. A cluster's token is on one node: a failover of another
      // (whose replica may lack the last writes) changes the epoch this client answers too.
      const p = redis.pipeline();
      p.set(epochKey, randomUUID(), 'NX');
      p.get(epochKey);
      return `${String(pipelineResults(await p.exec())[1])}/${conn.failovers()}`;
    },
    onReconnect(listener) {
      // The first connection too: writes that failed before it are made now, not at the next refresh.
      conn.onReady(listener);
    },
    async lookup(users) {
      const out = new Map<string, string[]>();
      if (users.length === 0) return out;
      const t = now();
      const results = (await pipelinePerNode(conn, users.map(key), (p, k) => p.zrangebyscore(k, `(${t}`, '+inf'))) as string[][];
      users.forEach((u, i) => {
        const instances = results[i]!;
        if (instances.length > 0) out.set(u, instances);
      });
      return out;
    },
  };
}
