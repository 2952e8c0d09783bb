import type { ChainableCommander } from 'ioredis';
import { connectRedis, pipelinePerNode, pipelineResults, type RedisTarget } from './redis-connection.js';
import type { Logger } from '../../shared/logger.js';
import { FencedError, HotStoreError, WrongPartitionError, type HotStore, type PartitionCount, type SequencedRecord } from './hot-store.js';
import { partitionOf } from './partitioner.js';
import type { ConversationSummary } from './store.js';
import type { Message } from '../../shared/message.js';

export interface RedisHotStoreOptions extends RedisTarget {
  keyPrefix: string;
  logger: Logger;
  /** The log's partitions: where a conversation's keys are. */
  partitions: PartitionCount;
  /**
   * Replicas a write must reach (Redis WAIT) before it counts, within `waitTimeoutMs`: a replica
   * that takes over from a failed primary then has every seq that was pushed. 0: not waited for.
   */
  waitReplicas?: number;
  waitTimeoutMs?: number;
  /** How long a recorded message, last seq and listing live without being written again (a safety net; persisting forgets them first). */
  hotTtlMs?: number;
  now?: () => number;
}

/** A write was acknowledged by fewer replicas than asked for in time: it may not survive a failover, so it does not count. */
export class NotReplicatedError extends HotStoreError {
  constructor(reached: number, wanted: number, timeoutMs: number) {
    super(
      `hot store write reached ${reached} of ${wanted} replica(s) within ${timeoutMs} ms` +
        (reached === 0 ? ' (REDIS_WAIT_REPLICAS: set it to 0 for a Redis without replicas)' : ''),
    );
    this.name = 'NotReplicatedError';
  }
}

/** A Redis call's failure, as the hot store reports it. */
const redisFailed = (err: unknown): never => {
  throw err instanceof HotStoreError ? err : new HotStoreError(`hot store: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
};

/** A pipeline's replies; its or any command's failure as a HotStoreError. */
const run = (p: ChainableCommander): Promise<unknown[]> => p.exec().then(pipelineResults).catch(redisFailed);

/**
 * One atomic write per batch: the claim is checked, then per message its msgId record, its place
 * in the conversation's sorted set, the conversation's last seq and the listings. Every key is the
 * partition's (ARGV[1], which carries the partition's hash tag), so the write is one slot's.
 * ARGV: the partition's key base, owner, dedupe window (ms), hot TTL (ms), now (ms), then per
 * message: msgId, conversation, seq, ts, JSON, the number of users who list the conversation now
 * and them, the number of users who no longer do and them.
 */
const RECORD = `
local base, owner = ARGV[1], ARGV[2]
if redis.call('GET', KEYS[1]) ~= owner then return 0 end
local window, ttl, now = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local i = 6
while i <= #ARGV do
  local msgId, conv, seq, ts, json, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  redis.call('SET', base .. 'm:' .. msgId, conv .. '\\n' .. seq .. '\\n' .. ts, 'PX', window)
  local h = base .. 'h:' .. conv
  redis.call('ZADD', h, seq, json)
  redis.call('PEXPIRE', h, ttl)
  local l = base .. 'l:' .. conv
  local last = tonumber(string.match(redis.call('GET', l) or '0', '^%d+'))
  if seq > last then redis.call('SET', l, seq .. '\\n' .. now, 'PX', ttl) else redis.call('PEXPIRE', l, ttl) end
  for j = 1, n do
    local u = base .. 'u:' .. ARGV[i + 5 + j]
    redis.call('HSET', u, conv, seq)
    redis.call('PEXPIRE', u, ttl)
  end
  local k = tonumber(ARGV[i + 6 + n])
  for j = 1, k do redis.call('HDEL', base .. 'u:' .. ARGV[i + 6 + n + j], conv) end
  i = i + 7 + n + k
end
return 1
`;

/**
 * The hot store on Redis (ioredis), one server or a Redis Cluster. Every key of partition p is
 * under `<prefix>{p<p>}:` — the braces are a Redis Cluster hash tag, so a partition's keys share
 * one slot and a consumer's batch is one atomic script: `o` (the partition's claim), `since` (since
 * when it records every msgId), `m:<msgId>` (the msgId's conversation, seq and accept time, for
 * the dedupe window), `h:<conversation>` (a sorted set of the messages not yet persisted, by seq),
 * `l:<conversation>` (its last seq), `u:<user>` (a hash of the user's recent conversations in the
 * partition and their last seq). Beside them, `<prefix>dedupe-since` (since when the deployment's
 * hot store records every msgId) and `<prefix>covered-partitions` (the partitions whose coverage
 * was ever set), read when a partition's coverage is first set. Reads that span partitions (a user's listing, last seqs of many
 * conversations) are one pipeline per node.
 *
 * With `waitReplicas`, a claim and a record count once that many replicas have them (WAIT in the
 * same round trip); fewer in time is a NotReplicatedError, and the pipeline stores before it
 * pushes, as it does while Redis is away.
 */
export function createRedisHotStore(opts: RedisHotStoreOptions): HotStore {
  const ttl = opts.hotTtlMs ?? 3_600_000;
  const now = opts.now ?? Date.now;
  const waitReplicas = opts.waitReplicas ?? 0;
  const waitTimeoutMs = opts.waitTimeoutMs ?? 250;
  const conn = connectRedis(opts, opts.logger);
  const { redis } = conn;
  const base = (partition: number): string => `${opts.keyPrefix}{p${partition}}:`;
  const claimKey = (partition: number): string => `${base(partition)}o`;
  const sinceKey = (partition: number): string => `${base(partition)}since`;
  // Outside the partitions' slots: read only when a partition's coverage is first set.
  const deploymentSinceKey = `${opts.keyPrefix}dedupe-since`;
  const coveredKey = `${opts.keyPrefix}covered-partitions`;
  const partitionOfConversation = (conversation: string): number => partitionOf(conversation, opts.partitions());
  const conversationKey = (kind: 'h' | 'l', conversation: string): string => `${base(partitionOfConversation(conversation))}${kind}:${conversation}`;

  /** Runs a write (queued by `add`) and, when asked for, the WAIT for replicas, in one round trip. */
  const replicated = async (add: (p: ChainableCommander) => void): Promise<unknown> => {
    const p = redis.pipeline();
    add(p);
    if (waitReplicas > 0) p.wait(waitReplicas, waitTimeoutMs);
    const replies = await run(p);
    if (waitReplicas > 0 && Number(replies[1]) < waitReplicas) throw new NotReplicatedError(Number(replies[1]), waitReplicas, waitTimeoutMs);
    return replies[0];
  };

  return {
    start: () => conn.start(),
    stop: () => conn.stop(),
    health: () => conn.health(),
    async claim(partition, owner) {
      // SET … GET (Redis 6.2+): the claim and who held it before, in one step.
      return (await replicated((p) => p.set(claimKey(partition), owner, 'GET'))) as string | null;
    },
    async record(partition, owner, messages, listed, dedupeWindowMs) {
      if (messages.length === 0) return;
      const count = opts.partitions();
      const args: Array<string | number> = [base(partition), owner, dedupeWindowMs, ttl, now()];
      for (const m of messages) {
        const expected = partitionOf(m.conversation, count);
        if (expected !== partition) throw new WrongPartitionError(m.conversation, partition, expected);
        const l = listed.get(m.msgId) ?? { list: [], unlist: [] };
        args.push(m.msgId, m.conversation, m.seq, m.ts, JSON.stringify(m), l.list.length, ...l.list, l.unlist.length, ...l.unlist);
      }
      const ok = await replicated((p) => p.eval(RECORD, 1, claimKey(partition), ...args));
      if (ok !== 1) throw new FencedError(partition);
    },
    async sequenced(partition, msgIds) {
      const records = new Map<string, SequencedRecord>();
      // The coverage in the same round trip: it goes with the records it vouches for.
      const values = await redis.mget([sinceKey(partition), ...msgIds.map((id) => `${base(partition)}m:${id}`)]).catch(redisFailed);
      values.slice(1).forEach((v, i) => {
        if (v === null) return;
        const [conversation, seq, ts] = v.split('\n');
        records.set(msgIds[i]!, { conversation: conversation!, seq: Number(seq), ts: Number(ts) });
      });
      return { records, coveredSince: coverage(values[0]) };
    },
    async read(conversation, afterSeq, limit) {
      const partition = partitionOfConversation(conversation);
      const p = redis.pipeline();
      p.zrangebyscore(`${base(partition)}h:${conversation}`, `(${afterSeq}`, '+inf', 'LIMIT', 0, limit);
      p.get(sinceKey(partition));
      const [rows, since] = (await run(p)) as [string[], string | null];
      return { messages: rows.map((r) => JSON.parse(r) as Message), coveredSince: coverage(since) };
    },
    async lastSeqs(conversations) {
      const out = new Map<string, { seq: number; at: number }>();
      if (conversations.length === 0) return out;
      const values = (await pipelinePerNode(
        conn,
        conversations.map((c) => conversationKey('l', c)),
        (p, k) => p.get(k),
      ).catch(redisFailed)) as Array<string | null>;
      values.forEach((v, i) => {
        if (v === null) return;
        const [seq, at] = v.split('\n');
        out.set(conversations[i]!, { seq: Number(seq), at: Number(at ?? 0) });
      });
      return out;
    },
    async listing(user) {
      // The user's conversations are spread over the partitions: every partition's share, merged.
      const keys = Array.from({ length: opts.partitions() }, (_, p) => `${base(p)}u:${user}`);
      const shares = (await pipelinePerNode(conn, keys, (p, k) => p.hgetall(k)).catch(redisFailed)) as Array<Record<string, string>>;
      const out = new Map<string, number>();
      for (const share of shares) for (const [c, seq] of Object.entries(share)) out.set(c, Math.max(out.get(c) ?? 0, Number(seq)));
      return [...out].map(([conversation, lastSeq]): ConversationSummary => ({ conversation, lastSeq }));
    },
    async persisted(upTo) {
      if (upTo.size === 0) return;
      const conversations = [...upTo.keys()];
      await pipelinePerNode(
        conn,
        conversations.map((c) => conversationKey('h', c)),
        (p, k, i) => p.zremrangebyscore(k, '-inf', upTo.get(conversations[i]!)!),
      ).catch(redisFailed);
    },
    async resetCoverage(partition) {
      await redis.set(sinceKey(partition), now()).catch(redisFailed);
    },
    async claimedBy(partition) {
      return redis.get(claimKey(partition)).catch(redisFailed);
    },
    async dedupeSince(partition, storeIsEmpty) {
      const key = sinceKey(partition);
      const current = await redis.get(key).catch(redisFailed);
      if (current !== null) return Number(current);
      // The deployment's start: set once, by the first consumer of any partition (0 on an empty store).
      let start = await redis.get(deploymentSinceKey).catch(redisFailed);
      if (start === null) {
        const since = (await storeIsEmpty()) ? 0 : now();
        start = String((await run(redis.pipeline().set(deploymentSinceKey, since, 'NX').get(deploymentSinceKey)))[1]);
      }
      // A partition asked for the first time is covered since the deployment's start; one asked
      // before whose key is gone lost it with its node's data (a Redis Cluster master restarted
      // empty): covered from now on.
      const first = (await redis.sadd(coveredKey, String(partition)).catch(redisFailed)) === 1;
      const from = first ? Number(start) : now();
      return Number((await run(redis.pipeline().set(key, from, 'NX').get(key)))[1]);
    },
  };
}

function coverage(value: string | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}
