import { Cluster, Redis, type ChainableCommander } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';

/** One Redis server (with its replicas behind it, if any), or a Redis Cluster. */
export type RedisMode = 'standalone' | 'cluster';

/** Where Redis is: REDIS_URL and REDIS_MODE. */
export interface RedisTarget {
  /** `redis[s]://[user:password@]host:port[/db]`; in cluster mode the host part may list several seeds, comma-separated. */
  url: string;
  /** Default `standalone`. */
  mode?: RedisMode;
}

/** A client of either kind (ioredis): their commands and pipelines are the same. */
export type RedisClient = Redis | Cluster;

interface ParsedUrl {
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
  seeds: Array<{ host: string; port: number }>;
  db: number;
}

/**
 * Reads a Redis URL whose host part may list several `host:port` (a cluster's seed nodes). Throws
 * with the reason when it is not one; a cluster has one database (0) only.
 */
export function parseRedisUrl(url: string, mode: RedisMode): ParsedUrl {
  const m = /^(rediss?):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?([?#].*)?$/.exec(url);
  if (!m) throw new Error('expected redis://[user:password@]host:port[/db] or rediss://…');
  const [, scheme, auth, hosts, path] = m;
  const seeds = hosts!.split(',').map((h) => {
    const parsed = new URL(`${scheme}://${h.trim()}`);
    if (!parsed.hostname || (parsed.pathname !== '' && parsed.pathname !== '/') || parsed.username) throw new Error(`"${h}" is not host:port`);
    return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(parsed.port || 6379) };
  });
  if (seeds.length > 1 && mode !== 'cluster') throw new Error('several hosts are seed nodes of a Redis Cluster: set REDIS_MODE=cluster, or name one server');
  const db = path && path !== '/' ? Number(path.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`"${path}" is not a database number`);
  if (mode === 'cluster' && db !== 0) throw new Error('a Redis Cluster has database 0 only');
  const [user, password] =
    auth === undefined ? [] : auth.includes(':') ? [auth.slice(0, auth.indexOf(':')), auth.slice(auth.indexOf(':') + 1)] : [undefined, auth];
  return {
    tls: scheme === 'rediss',
    username: user ? decodeURIComponent(user) : undefined,
    password: password ? decodeURIComponent(password) : undefined,
    seeds,
    db,
  };
}

/**
 * One ioredis client as the Message adapters use it: commands fail fast while Redis (or the
 * cluster node serving their slot) is away (no offline queue, one retry), the client reconnects
 * forever, and each new error is logged once.
 */
export interface RedisConnection {
  readonly redis: RedisClient;
  readonly mode: RedisMode;
  /** Resolves once connected; rejects after 5 s (ioredis keeps reconnecting; a later call waits again). */
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): CheckResult;
  /**
   * Called at every (re)connection, the first included; for a cluster also whenever the master of
   * a slot changed (a failover: the replica that took over may lack the last writes).
   */
  onReady(listener: () => void): void;
  /** How many times this client saw the master of a cluster slot change since the start (0 for one server). */
  failovers(): number;
  /**
   * The keys, in groups that one pipeline each can carry: for a cluster, the keys of one node (its
   * slots as this client last saw them); for one server, all of them. Each group keeps the keys'
   * order and gives their places in `keys`.
   */
  byNode(keys: readonly string[]): Array<{ keys: string[]; at: number[] }>;
}

const CONNECT_TIMEOUT_MS = 3000;
const COMMAND_TIMEOUT_MS = 3000;
const retry = (times: number): number => Math.min(200 * times, 2000);
/** How often a cluster client reads the slot map, redirected or not: a failover is seen within this. */
const SLOTS_REFRESH_MS = 2000;

/** Who serves the master copy of each slot range, as one string (compared between two reads of the slot map). */
function slotMasters(cluster: Cluster): string {
  const out: string[] = [];
  let last: string | undefined;
  cluster.slots.forEach((nodes, slot) => {
    const master = nodes[0];
    if (master !== last) out.push(`${slot}:${master ?? '-'}`);
    last = master;
  });
  return out.join(',');
}

export function connectRedis(target: RedisTarget, logger: Logger): RedisConnection {
  const mode = target.mode ?? 'standalone';
  const redis = mode === 'cluster' ? clusterClient(target.url) : serverClient(target.url);
  let lastError = '';
  let failovers = 0;
  const readyListeners: Array<() => void> = [];
  const ready = (): void => {
    for (const l of readyListeners) l();
  };
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) logger.warn({ err }, 'redis error');
    lastError = err.message;
  });
  redis.on('ready', () => {
    if (lastError) logger.info('redis reconnected');
    lastError = '';
    ready();
  });
  if (redis instanceof Cluster) {
    redis.on('node error', (err: Error, node: string) => {
      if (err.message !== lastError) logger.warn({ err, node }, 'redis cluster node error');
      lastError = err.message;
    });
    // The slot map is read every SLOTS_REFRESH_MS (and on every redirection): a slot whose master
    // changed was failed over, and whoever serves it now may lack the last writes the lost one
    // acknowledged. Told whatever this client had in flight to the lost node.
    let masters = '';
    redis.on('refresh', () => {
      const now = slotMasters(redis);
      const changed = masters !== '' && now !== masters;
      masters = now;
      if (!changed || redis.status !== 'ready') return;
      failovers++;
      lastError = '';
      logger.info('redis cluster slot map changed: a master was replaced');
      ready();
    });
  }
  const status = (): string => `${redis.status}${lastError ? `: ${lastError}` : ''}`;
  return {
    redis,
    mode,
    async start() {
      if (redis.status === 'ready') return;
      const up = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          redis.off('ready', onReady);
          reject(new Error(`redis not ready (${status()})`));
        }, 5000);
        const onReady = (): void => {
          clearTimeout(timer);
          resolve();
        };
        redis.once('ready', onReady);
      });
      if (redis.status === 'wait') redis.connect().catch((err: unknown) => logger.debug({ err }, 'first redis connect failed; reconnecting'));
      await up;
    },
    async stop() {
      redis.disconnect();
    },
    health() {
      return redis.status === 'ready' ? { ok: true, detail: mode === 'cluster' ? 'connected (cluster)' : 'connected' } : { ok: false, detail: status() };
    },
    onReady(listener) {
      readyListeners.push(listener);
    },
    failovers: () => failovers,
    byNode(keys) {
      if (!(redis instanceof Cluster)) return [{ keys: [...keys], at: keys.map((_, i) => i) }];
      const groups = new Map<string, { keys: string[]; at: number[] }>();
      keys.forEach((key, i) => {
        const slot = calculateSlot(key);
        // Slots not mapped yet go by themselves; the pipeline finds their node.
        const node = redis.slots[slot]?.[0] ?? `slot:${slot}`;
        let g = groups.get(node);
        if (!g) groups.set(node, (g = { keys: [], at: [] }));
        g.keys.push(key);
        g.at.push(i);
      });
      return [...groups.values()];
    },
  };
}

function serverClient(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: retry,
  });
}

function clusterClient(url: string): Cluster {
  const u = parseRedisUrl(url, 'cluster');
  return new Cluster(u.seeds, {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: retry,
    // A command whose node is gone is retried (the slot map read again) for about this long, at
    // most: a failover takes the cluster's node timeout and an election; meanwhile callers hear of it.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    maxRedirections: 6,
    slotsRefreshTimeout: 2000,
    slotsRefreshInterval: SLOTS_REFRESH_MS,
    redisOptions: {
      username: u.username,
      password: u.password,
      tls: u.tls ? {} : undefined,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
    },
  });
}

/** The replies of an executed pipeline; throws the first command's error. */
export function pipelineResults(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new Error('redis pipeline was not executed');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/**
 * Runs one pipeline per node for commands on `keys` (see RedisConnection.byNode), all at once, and
 * gives their replies in the keys' order. `add` queues the command(s) of one key (its place in
 * `keys` given); each key must queue the same number of commands (`perKey`).
 */
export async function pipelinePerNode(
  conn: RedisConnection,
  keys: readonly string[],
  add: (pipeline: ChainableCommander, key: string, index: number) => void,
  perKey = 1,
): Promise<unknown[]> {
  const out = new Array<unknown>(keys.length * perKey);
  await Promise.all(
    conn.byNode(keys).map(async (group) => {
      const p = conn.redis.pipeline();
      group.keys.forEach((k, j) => add(p, k, group.at[j]!));
      const replies = pipelineResults(await p.exec());
      group.at.forEach((i, j) => {
        for (let c = 0; c < perKey; c++) out[i * perKey + c] = replies[j * perKey + c];
      });
    }),
  );
  return out;
}
