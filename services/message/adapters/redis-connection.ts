import { Redis } from 'ioredis';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';

/**
 * One ioredis connection as the Message adapters use it: commands fail fast while Redis is away
 * (no offline queue, one retry), the client reconnects forever, and each new error is logged once.
 */
export interface RedisConnection {
  readonly redis: Redis;
  /** Resolves once connected; rejects after 5 s (ioredis keeps reconnecting; a later call waits again). */
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): CheckResult;
  /** Called at every (re)connection, the first included. */
  onReady(listener: () => void): void;
}

export function connectRedis(url: string, logger: Logger): RedisConnection {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    commandTimeout: 3000,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) logger.warn({ err }, 'redis error');
    lastError = err.message;
  });
  const readyListeners: Array<() => void> = [];
  redis.on('ready', () => {
    if (lastError) logger.info('redis reconnected');
    lastError = '';
    for (const l of readyListeners) l();
  });
  const status = (): string => `${redis.status}${lastError ? `: ${lastError}` : ''}`;
  return {
    redis,
    async start() {
      if (redis.status === 'ready') return;
      const ready = new Promise<void>((resolve, reject) => {
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
      await ready;
    },
    async stop() {
      redis.disconnect();
    },
    health() {
      return redis.status === 'ready' ? { ok: true, detail: 'connected' } : { ok: false, detail: status() };
    },
    onReady(listener) {
      readyListeners.push(listener);
    },
  };
}

/** The replies of an executed pipeline; throws the first command's error. */
export function pipelineResults(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (!results) throw new Error('redis pipeline was not executed');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
