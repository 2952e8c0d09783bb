import { randomBytes } from 'node:crypto';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import { createEmbeddedPresence } from '../../services/message/adapters/embedded-presence.js';
import { createEmbeddedLog } from '../../services/message/adapters/embedded-log.js';
import { createMongoStore } from '../../services/message/adapters/mongo-store.js';
import { createRedisPresence } from '../../services/message/adapters/redis-presence.js';
import { createKafkaLog } from '../../services/message/adapters/kafka-log.js';
import type { MessageLog } from '../../services/message/adapters/log.js';
import { ferretOn, sharedRealBackends } from '../support/real-backends.js';
import { testLogger } from '../support/services.js';
import { storeContract } from './store.contract.js';
import { presenceContract } from './presence.contract.js';
import { logContract } from './log.contract.js';

const clock = () => {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
};
const tag = () => randomBytes(4).toString('hex');

storeContract('embedded', async () => {
  const store = createEmbeddedStore();
  await store.start();
  return { store, close: () => store.stop() };
});

// The MongoDB store on both storages of the stand-in (the test run uses one of them; the
// benchmark compares them), and on the run's own server when MONGODB_URI names one.
const ferret = new Map<string, Promise<{ mongodbUri: string }>>();
for (const kind of ['sqlite', 'postgresql'] as const) {
  storeContract(`MongoDB wire protocol (FerretDB on ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`, async () => {
    const { mongodbUri } = await (ferret.get(kind) ?? ferret.set(kind, ferretOn(kind)).get(kind)!);
    const store = createMongoStore({ uri: mongodbUri, database: `contract_${tag()}`, logger: testLogger('mongo') });
    await store.start();
    return { store, close: () => store.stop() };
  });
}
if (process.env.MONGODB_URI) {
  storeContract('MongoDB wire protocol (MONGODB_URI)', async () => {
    const store = createMongoStore({ uri: process.env.MONGODB_URI!, database: `contract_${tag()}`, logger: testLogger('mongo') });
    await store.start();
    return { store, close: () => store.stop() };
  });
}

presenceContract('embedded', async () => {
  const c = clock();
  const presence = createEmbeddedPresence({ now: c.now });
  await presence.start();
  return { presence, advance: c.advance, close: () => presence.stop() };
});

presenceContract('Redis', async () => {
  const env = await sharedRealBackends();
  const c = clock();
  const presence = createRedisPresence({ url: env.redisUrl, keyPrefix: `contract-${tag()}:`, logger: testLogger('redis'), now: c.now });
  await presence.start();
  return { presence, advance: c.advance, close: () => presence.stop() };
});

logContract('embedded', async () => {
  // One in-process log stands in for the external system; every "client" is a view of it.
  const shared = createEmbeddedLog({ partitions: 3, logger: testLogger('log') });
  let consumer: MessageLog | undefined;
  return {
    async open() {
      return {
        start: () => shared.start(),
        append: (e) => shared.append(e),
        consume: async (h, onAssignment) => {
          consumer = shared;
          await shared.consume(h, onAssignment);
        },
        stopConsuming: () => shared.stopConsuming(),
        stop: () => shared.stop(),
        health: () => shared.health(),
      } satisfies MessageLog;
    },
    close: async () => {
      await (consumer ?? shared).stop();
    },
  };
});

logContract('Kafka', async () => {
  const env = await sharedRealBackends();
  const t = tag();
  return {
    async open() {
      return createKafkaLog({
        brokers: env.kafkaBrokers.split(','),
        clientId: `contract-${t}`,
        topic: `contract.${t}`,
        groupId: `contract-${t}`,
        partitions: 3,
        replicationFactor: 1,
        minInsyncReplicas: 1,
        appendTimeoutMs: 10_000,
        fetchMaxWaitMs: 15,
        fetchMinBytes: 8192,
        maxBatch: 100,
        logger: testLogger('kafka'),
      });
    },
    close: async () => undefined,
  };
});
