import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import { createEmbeddedPresence } from '../../services/message/adapters/embedded-presence.js';
import { createEmbeddedLog } from '../../services/message/adapters/embedded-log.js';
import { Collection } from 'mongodb';
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
// On SQLite the activity is folded every 20 ms, so folds run between and during the suite's writes
// and reads; on PostgreSQL every second (the default), so the reads mostly merge what is not folded.
for (const kind of ['sqlite', 'postgresql'] as const) {
  storeContract(`MongoDB wire protocol (FerretDB on ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`, async () => {
    const { mongodbUri } = await (ferret.get(kind) ?? ferret.set(kind, ferretOn(kind)).get(kind)!);
    const store = createMongoStore({ uri: mongodbUri, database: `contract_${tag()}`, logger: testLogger('mongo'), ...(kind === 'sqlite' ? { foldIntervalMs: 20 } : {}) });
    await store.start();
    return { store, settle: async () => void (await store.foldActivity()), close: () => store.stop() };
  });
}
if (process.env.MONGODB_URI) {
  storeContract('MongoDB wire protocol (MONGODB_URI)', async () => {
    const store = createMongoStore({ uri: process.env.MONGODB_URI!, database: `contract_${tag()}`, logger: testLogger('mongo') });
    await store.start();
    return { store, settle: async () => void (await store.foldActivity()), close: () => store.stop() };
  });
}

describe('MongoDB store on FerretDB/PostgreSQL: the conversation activity', function () {
  this.timeout(60_000);
  it('is folded into the index once and then deleted, also by two folds at once, with nothing lost', async () => {
    const { mongodbUri } = await (ferret.get('postgresql') ?? ferret.set('postgresql', ferretOn('postgresql')).get('postgresql')!);
    // Two stores on one database: two Message pods whose timers never fire in this test.
    const database = `activity_${tag()}`;
    const [one, two] = [0, 1].map(() => createMongoStore({ uri: mongodbUri, database, logger: testLogger('mongo'), foldIntervalMs: 3_600_000 }));
    await one!.start();
    await two!.start();
    try {
      const convs = Array.from({ length: 40 }, (_, i) => `dm:x:y${String(i).padStart(2, '0')}`);
      const members = new Map(convs.map((c) => [c, ['x', c.slice(5)]] as const));
      const message = (c: string, seq: number, i: number) => ({ msgId: `${c}-${seq}`, conversation: c, seq, from: 'x', to: c.slice(5), body: 'b', ts: seq * 1000 + i, clientId: `${c}-${seq}` });
      for (const seq of [1, 2]) assert.equal(await one!.insertMessages(convs.map((c, i) => message(c, seq, i)), members), convs.length);
      assert.equal(await one!.foldActivity(), 2 * convs.length, 'every write\'s activity');
      assert.equal(await two!.foldActivity(), 0, 'deleted once folded');
      for (const seq of [3, 4]) assert.equal(await two!.insertMessages(convs.map((c, i) => message(c, seq, i)), members), convs.length);
      const folded = await Promise.all([one!.foldActivity(), two!.foldActivity()]);
      assert.ok(folded[0]! + folded[1]! >= 2 * convs.length, `two folds at once took it all (${folded.join(' + ')})`);
      assert.equal(await one!.foldActivity(), 0);
      const listed = await two!.listConversations('x', 100);
      assert.equal(listed.length, convs.length);
      assert.ok(listed.every((c) => c.lastSeq === 4), 'every conversation at its last seq');
      assert.equal(listed[0]!.conversation, convs[convs.length - 1], 'most recently active first');
      assert.deepEqual(await one!.lastSeqs(convs.slice(0, 3)), new Map(convs.slice(0, 3).map((c) => [c, 4])));
    } finally {
      await one!.stop();
      await two!.stop();
    }
  });

  it('is read so that a fold between a read\'s two looks (index, then what is not folded) hides no message', async () => {
    const { mongodbUri } = await (ferret.get('postgresql') ?? ferret.set('postgresql', ferretOn('postgresql')).get('postgresql')!);
    const database = `fold_race_${tag()}`;
    const store = createMongoStore({ uri: mongodbUri, database, logger: testLogger('mongo'), foldIntervalMs: 3_600_000 });
    await store.start();
    // Every read of the unfolded activity (a find with a filter; the fold's own has none) runs only
    // after a whole fold: the worst moment for a read that looks at the index at the same time.
    const find = Collection.prototype.find;
    Collection.prototype.find = function (this: Collection, ...args: Parameters<Collection['find']>) {
      const cursor = find.apply(this, args);
      if (this.dbName !== database || this.collectionName !== 'conversation_activity' || Object.keys(args[0] ?? {}).length === 0) return cursor;
      const toArray = cursor.toArray.bind(cursor);
      cursor.toArray = async () => {
        await store.foldActivity();
        return toArray();
      };
      return cursor;
    } as Collection['find'];
    try {
      const g = 'grp:fold';
      const members = new Map([['dm:a:b', ['a', 'b']], [g, []]]);
      await store.insertMessage({ msgId: 'f-g1', conversation: g, seq: 1, from: 'a', to: g, body: '', ts: 1, clientId: 'f-g1', kind: 'created', members: ['a', 'b'] }, []);
      await store.setMembers(g, ['a', 'b'], 1);
      await store.foldActivity();
      for (const seq of [2, 3]) {
        const m = (conversation: string, to: string, ts: number) => ({ msgId: `f-${conversation}-${seq}`, conversation, seq, from: 'a', to, body: 'b', ts, clientId: `f-${conversation}-${seq}` });
        assert.equal(await store.insertMessages([m('dm:a:b', 'b', seq * 10), m(g, g, seq * 10 + 1)], members), 2);
        assert.equal(await store.lastSeq('dm:a:b'), seq, 'lastSeq');
        assert.deepEqual(await store.lastSeqs(['dm:a:b', g]), new Map([['dm:a:b', seq], [g, seq]]), 'lastSeqs');
        assert.deepEqual(await store.listConversations('b', 10), [{ conversation: g, lastSeq: seq }, { conversation: 'dm:a:b', lastSeq: seq }], 'listConversations');
      }
    } finally {
      Collection.prototype.find = find;
      await store.stop();
    }
  });
});

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
        fetchIdleWaitMs: 500,
        commitIntervalMs: 200,
        maxBatch: 100,
        logger: testLogger('kafka'),
      });
    },
    close: async () => undefined,
  };
});
