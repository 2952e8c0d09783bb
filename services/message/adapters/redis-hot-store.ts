import { connectRedis, pipelineResults } from './redis-connection.js';
import type { Logger } from '../../shared/logger.js';
import { FencedError, type HotStore, type SequencedRecord } from './hot-store.js';
import type { Message } from '../../shared/message.js';

export interface RedisHotStoreOptions {
  url: string;
  keyPrefix: string;
  logger: Logger;
  /** How long a recorded message, last seq and listing live without being written again (a safety net; persisting forgets them first). */
  hotTtlMs?: number;
  now?: () => number;
}

/**
 * One atomic write per batch: the claim is checked, then per message its msgId record, its place
 * in the conversation's sorted set, the conversation's last seq and the listings.
 * ARGV: prefix, owner, dedupe window (ms), hot TTL (ms), now (ms), then per message: msgId, conversation,
 * seq, ts, JSON, the number of users who list the conversation now and them, the number of users
 * who no longer do and them.
 */
const RECORD = `
local prefix, owner = ARGV[1], ARGV[2]
if redis.call('GET', KEYS[1]) ~= owner then return 0 end
local window, ttl, now = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local i = 6
while i <= #ARGV do
  local msgId, conv, seq, ts, json, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  redis.call('SET', prefix .. 'm:' .. msgId, conv .. '\\n' .. seq .. '\\n' .. ts, 'PX', window)
  local h = prefix .. 'h:' .. conv
  redis.call('ZADD', h, seq, json)
  redis.call('PEXPIRE', h, ttl)
  local l = prefix .. 'l:' .. conv
  local last = tonumber(string.match(redis.call('GET', l) or '0', '^%d+'))
  if seq > last then redis.call('SET', l, seq .. '\\n' .. now, 'PX', ttl) else redis.call('PEXPIRE', l, ttl) end
  for j = 1, n do
    local u = prefix .. 'u:' .. ARGV[i + 5 + j]
    redis.call('HSET', u, conv, seq)
    redis.call('PEXPIRE', u, ttl)
  end
  local k = tonumber(ARGV[i + 6 + n])
  for j = 1, k do redis.call('HDEL', prefix .. 'u:' .. ARGV[i + 6 + n + j], conv) end
  i = i + 7 + n + k
end
return 1
`;

/**
 * The hot store on Redis (ioredis). Keys under the prefix: `m:<msgId>` (the msgId's conversation,
 * seq and accept time, for the dedupe window), `h:<conversation>` (a sorted set of the messages
 * not yet persisted, by seq), `l:<conversation>` (its last seq), `u:<user>` (a hash of the user's
 * recent conversations and their last seq), `o:<partition>` (the partition's claim) and
 * `dedupe-since`. Commands fail fast while Redis is away; the pipeline then stores before it
 * pushes, as it did without this store.
 *
 * The record script builds its keys from the prefix: one Redis server (a Redis Cluster would need
 * the keys of one write in one slot).
 */
export function createRedisHotStore(opts: RedisHotStoreOptions): HotStore {
  const ttl = opts.hotTtlMs ?? 3_600_000;
  const now = opts.now ?? Date.now;
  const conn = connectRedis(opts.url, opts.logger);
  const { redis } = conn;
  const key = (kind: string, name: string | number): string => `${opts.keyPrefix}${kind}:${name}`;
  const sinceKey = `${opts.keyPrefix}dedupe-since`;

  return {
    start: () => conn.start(),
    stop: () => conn.stop(),
    health: () => conn.health(),
    async claim(partition, owner) {
      // SET … GET (Redis 6.2+): the claim and who held it before, in one step.
      return redis.set(key('o', partition), owner, 'GET');
    },
    async record(partition, owner, messages, listed, dedupeWindowMs) {
      if (messages.length === 0) return;
      const args: Array<string | number> = [opts.keyPrefix, owner, dedupeWindowMs, ttl, now()];
      for (const m of messages) {
        const l = listed.get(m.msgId) ?? { list: [], unlist: [] };
        args.push(m.msgId, m.conversation, m.seq, m.ts, JSON.stringify(m), l.list.length, ...l.list, l.unlist.length, ...l.unlist);
      }
      const ok = await redis.eval(RECORD, 1, key('o', partition), ...args);
      if (ok !== 1) throw new FencedError(partition);
    },
    async sequenced(msgIds) {
      const records = new Map<string, SequencedRecord>();
      // The coverage in the same round trip: it goes with the records it vouches for.
      const values = await redis.mget([sinceKey, ...msgIds.map((id) => key('m', id))]);
      values.slice(1).forEach((v, i) => {
        if (v === null) return;
        const [conversation, seq, ts] = v.split('\n');
        records.set(msgIds[i]!, { conversation: conversation!, seq: Number(seq), ts: Number(ts) });
      });
      return { records, coveredSince: values[0] === null || values[0] === undefined ? undefined : Number(values[0]) };
    },
    async read(conversation, afterSeq, limit) {
      const rows = await redis.zrangebyscore(key('h', conversation), `(${afterSeq}`, '+inf', 'LIMIT', 0, limit);
      return rows.map((r) => JSON.parse(r) as Message);
    },
    async lastSeqs(conversations) {
      const out = new Map<string, { seq: number; at: number }>();
      if (conversations.length === 0) return out;
      const values = await redis.mget(conversations.map((c) => key('l', c)));
      values.forEach((v, i) => {
        if (v === null) return;
        const [seq, at] = v.split('\n');
        out.set(conversations[i]!, { seq: Number(seq), at: Number(at ?? 0) });
      });
      return out;
    },
    async listing(user) {
      const all = await redis.hgetall(key('u', user));
      return Object.entries(all).map(([conversation, seq]) => ({ conversation, lastSeq: Number(seq) }));
    },
    async persisted(upTo) {
      if (upTo.size === 0) return;
      const p = redis.pipeline();
      for (const [conversation, seq] of upTo) p.zremrangebyscore(key('h', conversation), '-inf', seq);
      pipelineResults(await p.exec());
    },
    async resetCoverage() {
      await redis.set(sinceKey, now());
    },
    async claimedBy(partition) {
      return redis.get(key('o', partition));
    },
    async dedupeSince(storeIsEmpty) {
      const current = await redis.get(sinceKey);
      if (current !== null) return Number(current);
      const since = (await storeIsEmpty()) ? 0 : now();
      await redis.set(sinceKey, since, 'NX');
      return Number(await redis.get(sinceKey));
    },
  };
}
