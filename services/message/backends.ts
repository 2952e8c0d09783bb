import type { Logger } from '../shared/logger.js';
import { ConfigError } from '../shared/errors.js';
import type { MessageConfig } from './config.js';
import type { MessageLog } from './adapters/log.js';
import type { MessageStore } from './adapters/store.js';
import type { PresenceStore } from './adapters/presence.js';
import { createEmbeddedLog } from './adapters/embedded-log.js';
import { createEmbeddedStore } from './adapters/embedded-store.js';
import { createEmbeddedPresence } from './adapters/embedded-presence.js';

export interface Backends {
  log: MessageLog;
  store: MessageStore;
  presence: PresenceStore;
  /** Names of the backends running in-process (not durable, single replica only). */
  embedded: string[];
}

/** Chooses each backend from the configuration (PROTOCOL.md §1): set → real system, unset → embedded. */
export function createBackends(config: MessageConfig, logger: Logger): Backends {
  const missing: string[] = [];
  if (config.backends.kafkaBrokers) missing.push('KAFKA_BROKERS is set, but this build has no Kafka adapter yet; unset it to use the embedded log');
  if (config.backends.mongodbUri) missing.push('MONGODB_URI is set, but this build has no MongoDB adapter yet; unset it to use the embedded store');
  if (config.backends.redisUrl) missing.push('REDIS_URL is set, but this build has no Redis adapter yet; unset it to use the embedded presence');
  if (missing.length > 0) throw new ConfigError(missing);
  return {
    log: createEmbeddedLog({ partitions: config.embeddedLogPartitions, logger: logger.child({ backend: 'log' }) }),
    store: createEmbeddedStore(),
    presence: createEmbeddedPresence(),
    embedded: ['log', 'store', 'presence'],
  };
}
