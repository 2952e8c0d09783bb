import type { Logger } from '../shared/logger.js';
import type { MessageConfig } from './config.js';
import type { MessageLog } from './adapters/log.js';
import type { MessageStore } from './adapters/store.js';
import type { PresenceStore } from './adapters/presence.js';
import { createEmbeddedLog } from './adapters/embedded-log.js';
import { createEmbeddedStore } from './adapters/embedded-store.js';
import { createEmbeddedPresence } from './adapters/embedded-presence.js';
import { createKafkaLog } from './adapters/kafka-log.js';
import { createMongoStore } from './adapters/mongo-store.js';
import { createRedisPresence } from './adapters/redis-presence.js';
import { createRedisHotStore } from './adapters/redis-hot-store.js';
import { createEmbeddedHotStore } from './adapters/embedded-hot-store.js';
import type { HotStore } from './adapters/hot-store.js';

export interface Backends {
  log: MessageLog;
  store: MessageStore;
  presence: PresenceStore;
  /** Pushed messages not yet persisted, seq records and partition claims (Redis, beside presence). */
  hot: HotStore;
  /** Names of the backends running in-process (not durable, single replica only). */
  embedded: string[];
}

/** Chooses each backend from the configuration (docs/PROTOCOL.md §1): set → real system, unset → embedded. */
export function createBackends(config: MessageConfig, logger: Logger): Backends {
  const { kafkaBrokers, mongodbUri, redisUrl } = config.backends;
  const embedded: string[] = [];
  const log = kafkaBrokers
    ? createKafkaLog({
        brokers: kafkaBrokers,
        ...config.kafka,
        maxBatch: 100,
        logger: logger.child({ backend: 'kafka' }),
      })
    : (embedded.push('log'), createEmbeddedLog({ partitions: config.embeddedLogPartitions, logger: logger.child({ backend: 'log' }) }));
  const store = mongodbUri
    ? createMongoStore({ uri: mongodbUri, database: config.mongodbDatabase, logger: logger.child({ backend: 'mongodb' }) })
    : (embedded.push('store'), createEmbeddedStore());
  const { mode, keyPrefix, waitReplicas, waitTimeoutMs } = config.redis;
  const presence = redisUrl
    ? createRedisPresence({ url: redisUrl, mode, keyPrefix, logger: logger.child({ backend: 'redis' }) })
    : (embedded.push('presence'), createEmbeddedPresence());
  // The hot store goes with presence: on the same Redis, or in-process beside the embedded presence.
  // Its keys are placed by partition: the log's own count, once it has started.
  const partitions = (): number => log.partitions();
  const hot = redisUrl
    ? createRedisHotStore({ url: redisUrl, mode, keyPrefix, partitions, waitReplicas, waitTimeoutMs, logger: logger.child({ backend: 'redis-hot' }) })
    : createEmbeddedHotStore();
  return { log, store, presence, hot, embedded };
}
